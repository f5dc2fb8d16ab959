//! Durations, one grammar everywhere: plan files (`timeout = "1h30m"`), scenario and
//! rehearsal files (`after: 0.5s`) and command-line flags (`--grace 500ms`). One way
//! of printing them, too, whose output the grammar reads back.
//!
//! A duration is one or more `<number><unit>` parts, added up: `30s`, `1h30m`,
//! `1.5s`, `250ms`, `2d`. A number is digits, optionally with a decimal fraction
//! (`0.5`); units are `ms`, `s`, `m`, `h` and `d`. A duration is at most
//! [`MAX_DURATION`] (30 days): no maintenance step waits longer, and a bound keeps
//! every deadline computed from a duration (`now + timeout`) far from overflowing.

use std::time::Duration;

/// The help line every duration error carries.
pub const DURATION_HELP: &str =
    "write a duration as numbers with units ms, s, m, h, d, like \"30s\", \"10m\" or \"1h30m\"";

/// The longest duration accepted anywhere: 30 days.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);
/// [`MAX_DURATION`] as written in messages.
const MAX_DURATION_TEXT: &str = "30d";

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// Fraction digits beyond this are below a nanosecond and ignored.
const MAX_FRACTION_DIGITS: usize = 9;

/// Parses a duration (see the module docs). Returns a short reason on failure.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut nanos: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let whole = leading(rest, |c| c.is_ascii_digit());
        if whole == 0 {
            return Err(format!("expected a number at `{rest}`"));
        }
        let number = &rest[..whole];
        let value: u64 = number
            .parse()
            .map_err(|_| format!("number too large in `{text}`"))?;
        rest = &rest[whole..];
        let mut fraction = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let digits = leading(after_dot, |c| c.is_ascii_digit());
            if digits == 0 {
                return Err(format!("expected digits after `{number}.`"));
            }
            fraction = &after_dot[..digits];
            rest = &after_dot[digits..];
        }
        let unit_len = leading(rest, |c| c.is_ascii_alphabetic());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let unit_nanos: u128 = match unit {
            "ms" => 1_000_000,
            "s" => NANOS_PER_SEC,
            "m" => 60 * NANOS_PER_SEC,
            "h" => 3_600 * NANOS_PER_SEC,
            "d" => 86_400 * NANOS_PER_SEC,
            "" => {
                return Err(format!(
                    "missing unit after `{}`",
                    written(number, fraction)
                ));
            }
            other => return Err(format!("unknown unit `{other}`")),
        };
        nanos = nanos.saturating_add(u128::from(value) * unit_nanos);
        nanos = nanos.saturating_add(fraction_of(fraction, unit_nanos));
    }
    if nanos > MAX_DURATION.as_nanos() {
        return Err(format!(
            "longer than {MAX_DURATION_TEXT}, the longest duration planrun accepts"
        ));
    }
    let secs = u64::try_from(nanos / NANOS_PER_SEC).unwrap_or(u64::MAX);
    let sub = u32::try_from(nanos % NANOS_PER_SEC).unwrap_or(0);
    Ok(Duration::new(secs, sub))
}

/// Length in bytes of the prefix of `text` whose characters satisfy `f`.
fn leading(text: &str, f: impl Fn(char) -> bool) -> usize {
    text.len() - text.trim_start_matches(f).len()
}

fn written(number: &str, fraction: &str) -> String {
    if fraction.is_empty() {
        number.to_owned()
    } else {
        format!("{number}.{fraction}")
    }
}

/// `0.<fraction>` of `unit_nanos`, in nanoseconds.
fn fraction_of(fraction: &str, unit_nanos: u128) -> u128 {
    let digits = &fraction[..fraction.len().min(MAX_FRACTION_DIGITS)];
    let Ok(value) = digits.parse::<u128>() else {
        return 0;
    };
    let scale = 10u128.pow(u32::try_from(digits.len()).unwrap_or(0));
    value * unit_nanos / scale
}

/// A duration for people, in the form [`parse_duration`] reads: `850ms`, `2s`,
/// `1.5s` (tenths below a minute), `1m30s`, `10m`, `1h2m3s` (whole seconds above).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let tenths = (ms + 50) / 100;
    if tenths < 600 {
        return match tenths % 10 {
            0 => format!("{}s", tenths / 10),
            t => format!("{}.{t}s", tenths / 10),
        };
    }
    let secs = (ms + 500) / 1_000;
    let mut out = String::new();
    for (n, unit) in [(secs / 3_600, "h"), (secs / 60 % 60, "m"), (secs % 60, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// A duration as an estimate reads it, coarse enough not to flicker as it counts
/// down: whole seconds under 10 s, then to the nearest 5 s under a minute, 30 s under
/// ten minutes, a minute under an hour, and 5 minutes beyond ("7s", "45s", "3m30s",
/// "12m", "1h25m").
pub fn format_rough(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let step = match secs {
        s if s < 10.0 => return format_duration(Duration::from_secs(secs.ceil() as u64)),
        s if s < 60.0 => 5.0,
        s if s < 600.0 => 30.0,
        s if s < 3_600.0 => 60.0,
        _ => 300.0,
    };
    format_duration(Duration::from_secs(((secs / step).round() * step) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rough_durations_are_coarse() {
        let rough = |ms: u64| format_rough(Duration::from_millis(ms));
        assert_eq!(rough(0), "0ms");
        assert_eq!(rough(2_100), "3s");
        assert_eq!(rough(43_000), "45s");
        assert_eq!(rough(59_000), "1m");
        assert_eq!(rough(200_000), "3m30s");
        assert_eq!(rough(185_000), "3m");
        assert_eq!(rough(12 * 60_000 + 20_000), "12m");
        assert_eq!(rough(5_040_000), "1h25m");
    }

    #[test]
    fn parses_compound_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d2h"), Ok(Duration::from_secs(93_600)));
    }

    #[test]
    fn parses_decimal_numbers() {
        assert_eq!(parse_duration("0.5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1m0.25s"), Ok(Duration::from_millis(60_250)));
        assert_eq!(parse_duration("0.0001ms"), Ok(Duration::from_nanos(100)));
    }

    #[test]
    fn rejects_malformed_durations() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("10").unwrap_err().contains("missing unit"));
        assert_eq!(
            parse_duration("10 minutes").unwrap_err(),
            "missing unit after `10`"
        );
        assert!(
            parse_duration("5x")
                .unwrap_err()
                .contains("unknown unit `x`")
        );
        assert!(parse_duration("m5").is_err());
        assert!(parse_duration("1.s").is_err());
        assert!(parse_duration(".5s").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn durations_are_bounded_at_thirty_days() {
        assert_eq!(parse_duration(MAX_DURATION_TEXT), Ok(MAX_DURATION));
        assert_eq!(parse_duration("720h"), Ok(MAX_DURATION));
        for text in [
            "30d1ms",
            "31d",
            "9223372036854775807s",
            "18446744073709551615s",
            "99999999999999999999d",
        ] {
            let err = parse_duration(text).unwrap_err();
            assert!(
                err.contains("longer than 30d") || err.contains("too large"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn formats_for_people() {
        let ms = Duration::from_millis;
        assert_eq!(format_duration(ms(0)), "0ms");
        assert_eq!(format_duration(ms(250)), "250ms");
        assert_eq!(format_duration(ms(2_000)), "2s");
        assert_eq!(format_duration(ms(1_500)), "1.5s");
        assert_eq!(format_duration(ms(59_960)), "1m");
        assert_eq!(format_duration(ms(90_000)), "1m30s");
        assert_eq!(format_duration(ms(600_000)), "10m");
        assert_eq!(format_duration(ms(245_000)), "4m5s");
        assert_eq!(format_duration(ms(3_723_000)), "1h2m3s");
        assert_eq!(format_duration(ms(93_600_000)), "26h");
    }

    #[test]
    fn formats_round_trip() {
        for text in ["30s", "10m", "1h30m", "250ms", "1.5s", "26h"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }

    proptest! {
        /// What is printed reads back as the same duration, to the precision printed.
        #[test]
        fn printed_durations_parse_back(ms in 0u64..400_000_000) {
            let d = Duration::from_millis(ms);
            let back = parse_duration(&format_duration(d)).unwrap();
            let precision = if ms < 1_000 { 0 } else if ms < 59_950 { 50 } else { 500 };
            prop_assert!(back.abs_diff(d) <= Duration::from_millis(precision), "{d:?} -> {back:?}");
        }
    }
}
