//! Axis scales that start at zero and end on a round value just above the data, with about
//! five ticks at steps of 1, 2, 2.5 or 5 times a power of ten.

/// A linear scale from zero to `max`, with its tick values.
#[derive(Debug, Clone, PartialEq)]
pub struct Scale {
    pub max: f64,
    pub ticks: Vec<f64>,
    /// Decimal places that print every tick exactly (0.25 needs 2, 20 needs 0).
    decimals: usize,
}

impl Scale {
    /// A scale covering `0..=data_max`. `min_step` keeps counts and seconds on whole numbers;
    /// an empty, zero or non-finite `data_max` gives the scale `0..=1`.
    pub fn covering(data_max: f64, min_step: f64) -> Self {
        let data_max = if data_max.is_finite() && data_max > 0.0 {
            data_max
        } else {
            1.0
        };
        let (mut multiple, mut magnitude) = round_step(data_max / 5.0);
        if multiple * magnitude < min_step {
            (multiple, magnitude) = round_step(min_step);
        }
        let step = multiple * magnitude;
        // The small slack keeps 1000 / 200 = 5.000000001 from adding an empty sixth step.
        let steps = (data_max / step - 1e-9).ceil().max(1.0) as usize;
        let ticks: Vec<f64> = (0..=steps).map(|i| i as f64 * step).collect();
        let decimals = (-magnitude.log10().round()).max(0.0) as usize
            + usize::from(multiple == 2.5 && magnitude < 10.0);
        Self {
            max: steps as f64 * step,
            ticks,
            decimals,
        }
    }

    /// A tick value as printed on the axis.
    pub fn label(&self, value: f64) -> String {
        format!("{value:.*}", self.decimals)
    }
}

/// The round step at or above `raw`, as (1, 2, 2.5 or 5; a power of ten).
fn round_step(raw: f64) -> (f64, f64) {
    let magnitude = 10f64.powf(raw.log10().floor());
    let normalised = raw / magnitude;
    match [1.0, 2.0, 2.5, 5.0]
        .into_iter()
        .find(|m| normalised <= m + 1e-9)
    {
        Some(multiple) => (multiple, magnitude),
        None => (1.0, magnitude * 10.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(scale: &Scale) -> Vec<String> {
        scale.ticks.iter().map(|t| scale.label(*t)).collect()
    }

    #[test]
    fn round_ranges_keep_their_own_top() {
        let s = Scale::covering(1000.0, 1.0);
        assert_eq!(labels(&s), ["0", "200", "400", "600", "800", "1000"]);
        assert_eq!(s.max, 1000.0);
    }

    #[test]
    fn awkward_maxima_round_up_to_the_next_step() {
        assert_eq!(
            labels(&Scale::covering(328.0, 1.0)),
            ["0", "100", "200", "300", "400"]
        );
        assert_eq!(
            labels(&Scale::covering(123.1, 0.0)),
            ["0", "25", "50", "75", "100", "125"]
        );
        assert_eq!(
            labels(&Scale::covering(0.37, 0.0)),
            ["0.0", "0.1", "0.2", "0.3", "0.4"]
        );
        assert_eq!(
            labels(&Scale::covering(1.1, 0.0)),
            ["0.00", "0.25", "0.50", "0.75", "1.00", "1.25"]
        );
    }

    #[test]
    fn whole_number_axes_never_step_below_one() {
        assert_eq!(labels(&Scale::covering(3.0, 1.0)), ["0", "1", "2", "3"]);
    }

    #[test]
    fn no_data_gives_a_unit_scale() {
        for max in [0.0, -5.0, f64::NAN, f64::INFINITY] {
            let s = Scale::covering(max, 0.0);
            assert_eq!(s.max, 1.0);
            assert!(s.ticks.iter().all(|t| t.is_finite()));
        }
    }
}
