//! A delivery's life: `pending` -> `processing` -> `success` | `pending` (a retry is due
//! later) | `failed` (dead-lettered); `failed` -> `pending` by a manual retry. `success` is
//! final. The database enforces the same table (migration `delivery_transitions`).

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Processing,
    Success,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [Self; 4] = [Self::Pending, Self::Processing, Self::Success, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Success => "success",
            Self::Failed => "failed",
        }
    }

    /// Whether a delivery may go from `self` to `next`.
    pub fn may_become(self, next: Self) -> bool {
        use DeliveryStatus::*;
        matches!(
            (self, next),
            (Pending, Processing)
                | (Pending, Pending)       // parked or re-timed under a new generation
                | (Pending, Failed)        // JetStream gave up on its job
                | (Processing, Processing) // a lease that ran out is taken over
                | (Processing, Success)
                | (Processing, Pending)    // a retry is scheduled
                | (Processing, Failed)
                | (Failed, Pending) // a manual retry from the DLQ
        )
    }

    pub fn is_final(self) -> bool {
        Self::ALL.iter().all(|next| !self.may_become(*next))
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeliveryStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| format!("{s:?} is not a delivery status"))
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;
    use super::*;

    #[test]
    fn success_is_the_only_final_state() {
        let finals: Vec<_> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(finals, [Success]);
    }

    #[test]
    fn illegal_transitions_are_refused() {
        for (from, to) in [
            (Success, Pending),
            (Success, Processing),
            (Success, Failed),
            (Pending, Success),
            (Failed, Success),
            (Failed, Processing),
        ] {
            assert!(!from.may_become(to), "{from} -> {to} allowed");
        }
    }

    #[test]
    fn every_path_of_a_delivery_is_allowed() {
        let paths: [&[DeliveryStatus]; 4] = [
            &[Pending, Processing, Success],
            &[
                Pending, Processing, Pending, Processing, Failed, Pending, Processing, Success,
            ],
            &[Pending, Pending, Processing, Processing, Success],
            &[Pending, Failed, Pending, Processing, Success],
        ];
        for path in paths {
            for pair in path.windows(2) {
                assert!(
                    pair[0].may_become(pair[1]),
                    "{} -> {} refused",
                    pair[0],
                    pair[1]
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(status));
        }
        assert!("done".parse::<DeliveryStatus>().is_err());
    }
}
