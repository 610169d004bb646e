//! Email (SPEC §3), optional: with `ATELIER_SMTP_URL`, `ATELIER_MAIL_FROM` and
//! `ATELIER_PUBLIC_URL` set, Atelier mails reset and verification links and account
//! notices. A page never talks to the mail server: it adds a row to `mail_outbox` in its
//! own transaction, and the outbox worker delivers it (plain text and HTML parts) through
//! lettre's SMTP transport, retrying with backoff while the server does not answer.

use std::time::Duration;

use chrono::Utc;
use diesel::PgConnection;
use diesel::prelude::*;
use lettre::message::{Mailbox, MultiPart};
use lettre::{Message, SmtpTransport, Transport};

use crate::base::config::Settings;
use crate::db::Db;
use crate::db::schema::mail_outbox;

/// How often the worker looks for due mail.
const POLL: Duration = Duration::from_secs(1);
/// How long a claimed mail is the claimer's before it is due again.
const LEASE_SECS: i64 = 120;
/// Tries before a mail is given up (about a day of backoff).
pub const MAX_ATTEMPTS: i32 = 16;
/// How many mails one round claims.
const BATCH: i64 = 20;

/// One mail to send.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// What it is, for the outbox (`reset`, `verify`, `email_changed`, `sign_in`, `invite`).
    pub kind: &'static str,
}

/// The mail settings, when mail is on.
#[derive(Clone)]
pub struct Mailer {
    smtp_url: String,
    from: Mailbox,
    /// The site's address, for the links in mails.
    pub public_url: String,
    /// The site's name in mails.
    pub site: String,
}

impl Mailer {
    /// `None` when mail is off (any of the three settings unset); an error when they are
    /// set but unusable.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Option<Self>> {
        let (Some(smtp_url), Some(from), Some(public_url)) = (
            settings.smtp_url.as_deref(),
            settings.mail_from.as_deref(),
            settings.public_url.as_deref(),
        ) else {
            return Ok(None);
        };
        let from: Mailbox = from
            .parse()
            .map_err(|err| anyhow::anyhow!("ATELIER_MAIL_FROM {from:?}: {err}"))?;
        SmtpTransport::from_url(smtp_url).map_err(|err| {
            anyhow::anyhow!("ATELIER_SMTP_URL is not an smtp:// or smtps:// URL: {err}")
        })?;
        Ok(Some(Self {
            smtp_url: smtp_url.to_owned(),
            from,
            public_url: public_url.trim_end_matches('/').to_owned(),
            site: "Atelier".to_owned(),
        }))
    }

    /// An absolute link to `path` on this site.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.public_url)
    }

    /// Sends one mail now (blocking: the outbox worker calls this on the blocking pool).
    fn send(&self, to: &str, subject: &str, text: &str, html: &str) -> Result<(), String> {
        let to: Mailbox = to.parse().map_err(|err| format!("bad address: {err}"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(
                text.to_owned(),
                html.to_owned(),
            ))
            .map_err(|err| format!("cannot build the mail: {err}"))?;
        let transport = SmtpTransport::from_url(&self.smtp_url)
            .map_err(|err| err.to_string())?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        transport
            .send(&message)
            .map(|_| ())
            .map_err(|err| err.to_string())
    }
}

/// Queues `mail` in the caller's transaction.
pub fn enqueue(conn: &mut PgConnection, mail: &Mail) -> QueryResult<()> {
    diesel::insert_into(mail_outbox::table)
        .values((
            mail_outbox::to_address.eq(&mail.to),
            mail_outbox::subject.eq(&mail.subject),
            mail_outbox::text_body.eq(&mail.text),
            mail_outbox::html_body.eq(&mail.html),
            mail_outbox::kind.eq(mail.kind),
        ))
        .execute(conn)?;
    Ok(())
}

/// Claims due mails: each is pushed [`LEASE_SECS`] ahead and counted as an attempt.
fn claim(conn: &mut PgConnection) -> QueryResult<Vec<Claimed>> {
    diesel::sql_query(
        "WITH due AS (
             SELECT id FROM mail_outbox
             WHERE sent_at IS NULL AND next_attempt_at <= now() AND attempts < $1
             ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         UPDATE mail_outbox m
         SET attempts = m.attempts + 1, next_attempt_at = now() + make_interval(secs => $3)
         FROM due WHERE m.id = due.id
         RETURNING m.id, m.to_address, m.subject, m.text_body, m.html_body, m.attempts",
    )
    .bind::<diesel::sql_types::Integer, _>(MAX_ATTEMPTS)
    .bind::<diesel::sql_types::BigInt, _>(BATCH)
    .bind::<diesel::sql_types::Double, _>(LEASE_SECS as f64)
    .load(conn)
}

/// A mail this worker claimed.
#[derive(QueryableByName)]
struct Claimed {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    id: i64,
    #[diesel(sql_type = diesel::sql_types::Text)]
    to_address: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    subject: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    text_body: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    html_body: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    attempts: i32,
}

/// How long after `attempts` failed tries the next one is: 2, 4, 8… seconds, at most an
/// hour.
pub fn backoff(attempts: i32) -> Duration {
    Duration::from_secs(2u64.saturating_pow(attempts.clamp(1, 12) as u32).min(3600))
}

/// Delivers the outbox on this instance until the process ends (every instance may run
/// one: claims never overlap).
pub fn spawn_outbox_worker(db: Db, mailer: Mailer) {
    tokio::spawn(async move {
        loop {
            if let Err(err) = deliver_due(&db, &mailer).await {
                tracing::warn!(error = %err, "mail outbox round failed");
            }
            tokio::time::sleep(POLL).await;
        }
    });
}

async fn deliver_due(db: &Db, mailer: &Mailer) -> Result<(), crate::base::error::AppError> {
    let due = db.run(claim).await?;
    for mail in due {
        let sender = mailer.clone();
        let (to, subject, text, html) = (
            mail.to_address.clone(),
            mail.subject.clone(),
            mail.text_body.clone(),
            mail.html_body.clone(),
        );
        let sent = actix_web::web::block(move || sender.send(&to, &subject, &text, &html))
            .await
            .unwrap_or_else(|err| Err(err.to_string()));
        let (id, attempts) = (mail.id, mail.attempts);
        match sent {
            Ok(()) => {
                db.run(move |conn| {
                    diesel::update(mail_outbox::table.find(id))
                        .set(mail_outbox::sent_at.eq(Utc::now()))
                        .execute(conn)
                })
                .await?;
                tracing::info!(mail = id, "mail delivered");
            }
            Err(error) => {
                let wait = chrono::Duration::from_std(backoff(attempts))
                    .unwrap_or(chrono::Duration::hours(1));
                let logged = error.clone();
                db.run(move |conn| {
                    diesel::update(mail_outbox::table.find(id))
                        .set((
                            mail_outbox::next_attempt_at.eq(Utc::now() + wait),
                            mail_outbox::last_error.eq(error.chars().take(500).collect::<String>()),
                        ))
                        .execute(conn)
                })
                .await?;
                tracing::warn!(mail = id, attempts, error = %logged, "mail not delivered; will retry");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        assert_eq!(backoff(1).as_secs(), 2);
        assert_eq!(backoff(3).as_secs(), 8);
        assert_eq!(backoff(40).as_secs(), 3600);
    }
}
