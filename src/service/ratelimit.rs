//! A token bucket: `burst` sends at once, then `rate` a second sustained.

use std::time::Duration;

use tokio::time::Instant;

/// A send allowance.
#[derive(Debug)]
pub struct TokenBucket {
    burst: f64,
    rate: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(burst: u32, rate_per_sec: u32, now: Instant) -> TokenBucket {
        TokenBucket {
            burst: f64::from(burst.max(1)),
            rate: f64::from(rate_per_sec.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Whether the bucket has refilled to its burst by `now` (it may then be forgotten).
    pub fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }

    /// Takes one token, or says how long until one is available.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_twenty_then_ten_a_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(20, 10, t0);
        for _ in 0..20 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        assert!(b.take(t0 + Duration::from_millis(100)).is_ok());
        assert!(b.take(t0 + Duration::from_millis(100)).is_err());
        // Ten seconds idle refill the burst, no more.
        let t1 = t0 + Duration::from_secs(10);
        for _ in 0..20 {
            assert!(b.take(t1).is_ok());
        }
        assert!(b.take(t1).is_err());
    }
}
