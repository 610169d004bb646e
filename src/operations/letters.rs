//! The mails Atelier writes, in the site's voice, each as plain text and the same words
//! in HTML: a reset link, a verification link, "your address changed", "a new sign-in",
//! an invitation. The operations that send them queue them in their own transaction.

use crate::services::mail::{Mail, Mailer};

/// Escapes text for the HTML part.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A mail of `paragraphs` with, optionally, one button-like link.
fn letter(
    mailer: &Mailer,
    (to, kind, subject): (&str, &'static str, String),
    greeting: &str,
    paragraphs: &[String],
    link: Option<(&str, &str)>,
) -> Mail {
    let mut text = format!("{greeting}\n\n");
    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\"><p>{}</p>",
        escape(greeting)
    );
    for paragraph in paragraphs {
        text.push_str(paragraph);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>", escape(paragraph)));
    }
    if let Some((label, url)) = link {
        text.push_str(&format!("{label}: {url}\n\n"));
        html.push_str(&format!(
            "<p><a href=\"{url}\" style=\"display:inline-block;padding:.6em 1.1em;background:#6d4cff;color:#fff;border-radius:6px;text-decoration:none\">{}</a></p><p style=\"color:#666;font-size:90%\">{}</p>",
            escape(label),
            escape(url)
        ));
    }
    text.push_str(&format!("— {}\n", mailer.site));
    html.push_str(&format!("<p>— {}</p></body></html>", escape(&mailer.site)));
    Mail {
        to: to.to_owned(),
        subject,
        text,
        html,
        kind,
    }
}

pub fn reset_link(mailer: &Mailer, to: &str, username: &str, token: &str) -> Mail {
    let url = mailer.link(&format!("/password/reset?token={token}"));
    letter(
        mailer,
        (to, "reset", format!("Set a new password for {}", mailer.site)),
        &format!("Hello {username},"),
        &[
            "Someone (we hope you) asked to set a new password for your account. The link works once, for an hour.".to_owned(),
            "If it was not you, ignore this mail: your password stays as it is.".to_owned(),
        ],
        Some(("Choose a new password", &url)),
    )
}

pub fn verify(mailer: &Mailer, to: &str, username: &str, token: &str) -> Mail {
    let url = mailer.link(&format!("/email/verify?token={token}"));
    letter(
        mailer,
        (
            to,
            "verify",
            format!("Confirm your address for {}", mailer.site),
        ),
        &format!("Hello {username},"),
        &["Please confirm that this address is yours. The link works for a day.".to_owned()],
        Some(("Confirm my address", &url)),
    )
}

pub fn email_changed(mailer: &Mailer, old: &str, username: &str, new: &str) -> Mail {
    letter(
        mailer,
        (old, "email_changed", format!("Your {} address was changed", mailer.site)),
        &format!("Hello {username},"),
        &[
            format!("The address of your account is now {new}. Mail about it goes there from now on."),
            "If you did not change it, sign in and change your password, or ask the site's administrator for help.".to_owned(),
        ],
        None,
    )
}

pub fn new_sign_in(mailer: &Mailer, to: &str, username: &str, from: &str, browser: &str) -> Mail {
    letter(
        mailer,
        (to, "sign_in", format!("A new sign-in to {}", mailer.site)),
        &format!("Hello {username},"),
        &[
            format!("Your account was just signed in to from {from} ({browser})."),
            "If that was not you, change your password and turn on two-factor sign-in on your account page.".to_owned(),
        ],
        Some(("Your account", &mailer.link("/account"))),
    )
}

pub fn invite(mailer: &Mailer, to: &str, token: &str, days: i64) -> Mail {
    let url = mailer.link(&format!("/register?invite={token}"));
    letter(
        mailer,
        (to, "invite", format!("You are invited to {}", mailer.site)),
        "Hello,",
        &[format!(
            "You are invited to make an account. The link works once, for {days} day{}.",
            if days == 1 { "" } else { "s" }
        )],
        Some(("Create my account", &url)),
    )
}
