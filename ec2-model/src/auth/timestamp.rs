//! The timestamp formats of the signatures: SigV4's ISO 8601 basic format (`20261126T070318Z`)
//! and SigV2's ISO 8601 extended format (`2026-11-26T07:03:18Z`).

use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// Parses `YYYYMMDD'T'HHMMSS'Z'` (exactly 16 ASCII characters), as UTC.
pub(crate) fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, &d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
    let day = u8::try_from(num(6..8)?).ok()?;
    let hour = u8::try_from(num(9..11)?).ok()?;
    let minute = u8::try_from(num(11..13)?).ok()?;
    let second = u8::try_from(num(13..15)?).ok()?;
    let date = Date::from_calendar_date(year, month, day).ok()?;
    let time = Time::from_hms(hour, minute, second).ok()?;
    Some(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Formats a time as `YYYYMMDD'T'HHMMSS'Z'` in UTC (for the `X-Amz-Date` header).
pub fn format_amz_date(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses a SigV2 `Timestamp` or `Expires`: RFC 3339 (`2026-11-26T07:03:18Z`, fractions and
/// offsets allowed), or the same without a zone, taken as UTC.
pub(crate) fn parse_iso8601(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let plain = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let fraction = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond]");
    PrimitiveDateTime::parse(s, &plain)
        .or_else(|_| PrimitiveDateTime::parse(s, &fraction))
        .ok()
        .map(PrimitiveDateTime::assume_utc)
}

/// Formats a time as `YYYY-MM-DD'T'HH:MM:SS'Z'` in UTC (for a SigV2 `Timestamp`).
pub fn format_iso8601(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn amz_dates() {
        let t = datetime!(2026-11-26 07:03:18 UTC);
        assert_eq!(parse_amz_date("20261126T070318Z"), Some(t));
        assert_eq!(format_amz_date(t), "20261126T070318Z");
        for bad in [
            "",
            "20261126T070318",
            "20261126 070318Z",
            "20261126T070318z",
            "20261326T070318Z",
            "20261126T250318Z",
            "20260230T000000Z",
            "+0261126T070318Z",
            "20261126T07031\u{e9}",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn iso8601() {
        let t = datetime!(2026-11-26 07:03:18 UTC);
        assert_eq!(parse_iso8601("2026-11-26T07:03:18Z"), Some(t));
        assert_eq!(parse_iso8601("2026-11-26T07:03:18"), Some(t));
        assert_eq!(parse_iso8601("2026-11-26T08:03:18+01:00"), Some(t));
        assert_eq!(
            parse_iso8601("2026-11-26T07:03:18.250Z"),
            Some(t + time::Duration::milliseconds(250))
        );
        assert_eq!(parse_iso8601("26 Nov 2026"), None);
        assert_eq!(format_iso8601(t), "2026-11-26T07:03:18Z");
    }
}
