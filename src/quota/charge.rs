//! The charge seam every generation goes through: reserve before a job is queued, commit
//! when it succeeds, refund exactly once when it fails. This first implementation charges
//! nothing (credits and free images come with the abuse-controls work); callers already
//! keep the reservation with the job so refunds have what they need.

use diesel::PgConnection;

/// What a job holds until it finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Reservation {
    pub credits: i64,
    pub free_image: bool,
}

/// Reserves what `images` images cost for `user_id`. Runs in the caller's transaction.
pub fn reserve(
    _conn: &mut PgConnection,
    _user_id: i64,
    _images: u32,
) -> diesel::QueryResult<Reservation> {
    Ok(Reservation::default())
}

/// Gives back a failed job's reservation. Callers call it only after winning the
/// `running → failed` transition, so it happens once per job.
pub fn refund(
    _conn: &mut PgConnection,
    _user_id: i64,
    reservation: Reservation,
) -> diesel::QueryResult<()> {
    if reservation != Reservation::default() {
        tracing::warn!(
            ?reservation,
            "refund requested for a charge this version never takes"
        );
    }
    Ok(())
}
