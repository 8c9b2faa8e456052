//! Exact decimal text → integer units, for the numbers the activity feed sends as JSON numbers or strings.
//!
//! The feed's producers print shortest round-trip decimals, so a size of 12.5 shares arrives as `12.5` or
//! `"12.5"`; both are read as the digits they are, never through a binary float. Only plain notation is
//! taken (`digits[.digits]`): a sign, an exponent, `NaN`/`Infinity`, or more fractional digits than the
//! unit holds (after dropping trailing zeros) is an error saying which.

use alloy_primitives::U256;

/// The most integer digits accepted: far above any share count or timestamp, far below 2**256.
const MAX_INTEGER_DIGITS: usize = 30;

/// A JSON value's text as the feed sent it: a number's own digits, or a string's contents.
pub fn value_text(raw: &str) -> Result<std::borrow::Cow<'_, str>, String> {
    let raw = raw.trim();
    if raw.starts_with('"') {
        return serde_json::from_str::<std::borrow::Cow<'_, str>>(raw)
            .map_err(|_| "is not a valid JSON string".to_owned());
    }
    match raw {
        "null" => Err("is null".to_owned()),
        "true" | "false" => Err(format!("is a boolean ({raw})")),
        _ if raw.starts_with('{') || raw.starts_with('[') => Err("is not a number or a string".to_owned()),
        _ => Ok(std::borrow::Cow::Borrowed(raw)),
    }
}

/// `text` (plain decimal notation) in units of `10^-scale`, exactly.
pub fn parse_units(text: &str, scale: u32) -> Result<U256, String> {
    let shown = shown(text);
    if text.is_empty() {
        return Err("is empty".to_owned());
    }
    if text.starts_with('-') {
        return Err(format!("is negative ({shown})"));
    }
    if text.bytes().any(|b| b == b'e' || b == b'E')
        && text.bytes().all(|b| b.is_ascii_digit() || b".eE+-".contains(&b))
    {
        return Err(format!("is in exponent form ({shown}); plain decimal notation only"));
    }
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, frac),
        None => (text, ""),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || (text.contains('.') && !digits(frac)) {
        return Err(format!("is not a plain decimal number ({shown})"));
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale as usize {
        return Err(format!("has more than {scale} decimals ({shown})"));
    }
    let int = int.trim_start_matches('0');
    if int.len() > MAX_INTEGER_DIGITS {
        return Err(format!("is too large ({shown})"));
    }
    // At most 30 + scale digits: exact in a U256 for every scale used here (≤ 18).
    let mut units = U256::ZERO;
    let ten = U256::from(10u8);
    let pad = scale as usize - frac.len();
    for b in int.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', pad)) {
        units = units * ten + U256::from(b - b'0');
    }
    Ok(units)
}

/// A value for an error message: cut short so a frame cannot echo a blob into the logs.
pub fn shown(text: &str) -> String {
    if text.chars().count() <= 40 {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(37).collect();
        format!("{head:?}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case("12.5", 12_500_000)]
    #[case("0.43", 430_000)]
    #[case("0.000001", 1)]
    #[case("7", 7_000_000)]
    #[case("007.100000000", 7_100_000)]
    #[case("0", 0)]
    fn plain_decimals_are_exact(#[case] text: &str, #[case] units: u64) {
        assert_eq!(parse_units(text, 6).unwrap(), U256::from(units));
    }

    #[rstest]
    #[case("0.0000001", "more than 6 decimals")]
    #[case("-1", "negative")]
    #[case("1e3", "exponent form")]
    #[case("1.5E-2", "exponent form")]
    #[case("NaN", "not a plain decimal")]
    #[case("Infinity", "not a plain decimal")]
    #[case(".5", "not a plain decimal")]
    #[case("5.", "not a plain decimal")]
    #[case("+5", "not a plain decimal")]
    #[case(" 5", "not a plain decimal")]
    #[case("0x10", "not a plain decimal")]
    #[case("1.2.3", "not a plain decimal")]
    #[case("", "empty")]
    #[case("1234567890123456789012345678901", "too large")]
    fn other_forms_say_why(#[case] text: &str, #[case] reason: &str) {
        let err = parse_units(text, 6).unwrap_err();
        assert!(err.contains(reason), "{text}: {err}");
    }

    #[rstest]
    #[case("\"0.43\"", "0.43")]
    #[case("0.43", "0.43")]
    #[case("\"1\\u0032\"", "12")]
    fn value_text_reads_numbers_and_strings(#[case] raw: &str, #[case] text: &str) {
        assert_eq!(value_text(raw).unwrap(), text);
    }

    #[rstest]
    #[case("null", "null")]
    #[case("true", "boolean")]
    #[case("[1]", "not a number")]
    #[case("\"abc", "not a valid JSON string")]
    fn value_text_refuses_other_json(#[case] raw: &str, #[case] reason: &str) {
        assert!(value_text(raw).unwrap_err().contains(reason));
    }

    proptest! {
        #[test]
        fn round_trips_through_text(units in 0u64..=u64::MAX, trailing in 0usize..4) {
            let text = format!("{}.{:06}{}", units / 1_000_000, units % 1_000_000, "0".repeat(trailing));
            prop_assert_eq!(parse_units(&text, 6).unwrap(), U256::from(units));
        }

        #[test]
        fn never_panics(text in "\\PC{0,48}") {
            let _ = parse_units(&text, 6);
            let _ = value_text(&text);
        }
    }
}
