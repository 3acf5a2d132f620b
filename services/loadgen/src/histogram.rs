//! The end-to-end latency histogram: fixed 1-2-5 buckets from 0.1 ms to 10 s, so results from
//! different runs line up bucket by bucket.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One bucket: the latencies above the previous bucket's bound, up to and including `le_ms`.
/// The last bucket has no bound (`null` in JSON): everything beyond 10 s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub le_ms: Option<f64>,
    pub count: usize,
}

/// The buckets' upper bounds in milliseconds: 0.1, 0.2, 0.5, 1, 2, 5 ... 10,000.
pub fn bounds_ms() -> Vec<f64> {
    let mut bounds = Vec::new();
    for exponent in -1..=3 {
        let decade = 10f64.powi(exponent);
        for step in [1.0, 2.0, 5.0] {
            bounds.push(round(step * decade));
        }
    }
    bounds.push(10_000.0);
    bounds
}

/// Counts `samples` into the fixed buckets (not cumulative). Empty input gives zero counts.
pub fn of(samples: impl IntoIterator<Item = Duration>) -> Vec<Bucket> {
    let bounds = bounds_ms();
    let mut counts = vec![0; bounds.len() + 1];
    for sample in samples {
        // Whole nanoseconds over 1e6 is exact at the bounds: 100 µs is 0.1, not 0.1000…02.
        let ms = sample.as_nanos() as f64 / 1e6;
        let index = bounds.partition_point(|le| *le < ms);
        counts[index] += 1;
    }
    let les = bounds.into_iter().map(Some).chain([None]);
    les.zip(counts)
        .map(|(le_ms, count)| Bucket { le_ms, count })
        .collect()
}

/// Powers of ten times 1, 2 or 5 come out of `powi` as 0.20000000000000004 and the like.
fn round(ms: f64) -> f64 {
    (ms * 1e3).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_run_from_a_tenth_of_a_millisecond_to_ten_seconds() {
        let bounds = bounds_ms();
        assert_eq!(&bounds[..4], &[0.1, 0.2, 0.5, 1.0]);
        assert_eq!(bounds.last(), Some(&10_000.0));
        assert_eq!(bounds.len(), 16);
    }

    #[test]
    fn samples_land_in_the_first_bucket_that_holds_them() {
        let ms = |n: f64| Duration::from_nanos((n * 1e6) as u64);
        let buckets = of([ms(0.0), ms(0.1), ms(0.15), ms(1.0), ms(3.0), ms(20_000.0)]);
        let count = |le: Option<f64>| buckets.iter().find(|b| b.le_ms == le).unwrap().count;
        assert_eq!(count(Some(0.1)), 2);
        assert_eq!(count(Some(0.2)), 1);
        assert_eq!(count(Some(1.0)), 1);
        assert_eq!(count(Some(5.0)), 1);
        assert_eq!(count(None), 1);
        assert_eq!(buckets.iter().map(|b| b.count).sum::<usize>(), 6);
    }

    #[test]
    fn no_samples_give_empty_buckets() {
        let buckets = of([]);
        assert_eq!(buckets.len(), 17);
        assert!(buckets.iter().all(|b| b.count == 0));
    }
}
