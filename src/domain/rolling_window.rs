//! Rolling windows: a use counts until exactly `window` after it happened. Pure
//! arithmetic shared by the anonymous limits (`quota::limits`) and the login throttle
//! (`db::models::login_failure`).

use chrono::{DateTime, Duration, Utc};

/// Whole seconds from `now` until `at` (rounded up; 0 once it has passed).
pub fn secs_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (at - now).num_milliseconds().max(0);
    u64::try_from(millis).unwrap_or(0).div_ceil(1000)
}

/// With `times` (ascending, all inside the window) at or over `limit`, the seconds until
/// enough of them leave the window for one more use to fit; `None` while under the limit.
pub fn retry_after(
    times: &[DateTime<Utc>],
    limit: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Option<u64> {
    let limit = limit as usize;
    if times.len() < limit {
        return None;
    }
    match times.len().checked_sub(limit).and_then(|i| times.get(i)) {
        Some(must_expire) => Some(secs_until(*must_expire + window, now).max(1)),
        // A limit of zero: nothing will ever fit; the window is the honest answer.
        None => Some(u64::try_from(window.num_seconds()).unwrap_or(0).max(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_counts_from_the_oldest_use_that_must_leave() {
        let now = Utc::now();
        let window = Duration::seconds(900);
        let times: Vec<_> = [800, 600, 100]
            .iter()
            .map(|ago| now - Duration::seconds(*ago))
            .collect();
        assert_eq!(retry_after(&times, 4, window, now), None);
        // Limit 3: the use 800 s ago leaves in 100 s.
        assert_eq!(retry_after(&times, 3, window, now), Some(100));
        // Limit 2: the use 600 s ago must leave too, in 300 s.
        assert_eq!(retry_after(&times, 2, window, now), Some(300));
        assert_eq!(retry_after(&[], 0, window, now), Some(900));
    }
}
