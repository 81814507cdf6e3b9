//! The decoded parameter list of a Query API request.
//!
//! Parameters come from the query string (GET, presigned URLs, boto 2's deprecated GET calls) and
//! from an `application/x-www-form-urlencoded` POST body (botocore, the AWS CLI, boto 2), or
//! both. Decoding is strict: a `%` not followed by two hex digits, or bytes that are not UTF-8
//! after decoding, are a `MalformedQueryString` error, never silently replaced. `+` is a space.
//!
//! Input is bounded by [`Limits`]: total size, number of parameters, name and value lengths. A
//! parameter given twice (in the same source or in both) is an `InvalidParameterValue` error: the
//! Query API has no repeated parameters, and accepting one would make the meaning ambiguous.

use crate::error::{quote, Ec2Error, ErrorCode};
use crate::http::HttpRequest;

/// Bounds on what [`Params`] accepts. The defaults fit every real call of the supported
/// actions with room to spare (a `RunInstances` with 16 KiB of user data encodes to under 30 KiB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest query string plus body, in bytes (default 1 MiB).
    pub max_input_bytes: usize,
    /// Most parameters in one request (default 2000).
    pub max_params: usize,
    /// Longest parameter name, in bytes after decoding (default 256).
    pub max_name_bytes: usize,
    /// Longest parameter value, in bytes after decoding (default 64 KiB).
    pub max_value_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Limits {
    /// The default limits.
    pub const DEFAULT: Limits = Limits {
        max_input_bytes: 1 << 20,
        max_params: 2000,
        max_name_bytes: 256,
        max_value_bytes: 64 << 10,
    };
}

/// The decoded parameters of a request: `(name, value)` pairs in the order received (query
/// string first, then the body), names unique.
///
/// All decoded text lives in one buffer (two allocations per request, whatever the number of
/// parameters).
#[derive(Debug, Clone, Default)]
pub struct Params {
    /// Every name and value, back to back.
    text: String,
    /// `(name start, name end = value start, value end)` in `text`.
    spans: Vec<(usize, usize, usize)>,
}

impl PartialEq for Params {
    fn eq(&self, other: &Params) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Params {}

impl Params {
    /// The parameters of a request under the default [`Limits`].
    ///
    /// The query string is always read; the body is read when it is a form
    /// ([`HttpRequest::has_form_body`]).
    pub fn from_request(req: &HttpRequest) -> Result<Params, Ec2Error> {
        Params::from_request_with(req, &Limits::DEFAULT)
    }

    /// The parameters of a request under the given limits.
    pub fn from_request_with(req: &HttpRequest, limits: &Limits) -> Result<Params, Ec2Error> {
        let body: &[u8] = if req.has_form_body() { &req.body } else { &[] };
        let total = req.query.len().saturating_add(body.len());
        check_total(total, limits)?;
        let mut params = Params::with_capacity(total);
        let mut scratch = Vec::new();
        params.extend_urlencoded(req.query.as_bytes(), limits, "query string", &mut scratch)?;
        params.extend_urlencoded(body, limits, "body", &mut scratch)?;
        params.check_unique()?;
        Ok(params)
    }

    /// Parses one `application/x-www-form-urlencoded` string (a query string or a body) under
    /// the given limits.
    pub fn parse_urlencoded(input: &[u8], limits: &Limits) -> Result<Params, Ec2Error> {
        check_total(input.len(), limits)?;
        let mut params = Params::with_capacity(input.len());
        params.extend_urlencoded(input, limits, "input", &mut Vec::new())?;
        params.check_unique()?;
        Ok(params)
    }

    /// Parameters from pairs already decoded (checked for duplicates, not for limits).
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Params, Ec2Error>
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut params = Params::default();
        for (n, v) in pairs {
            params.push(n.as_ref(), v.as_ref());
        }
        params.check_unique()?;
        Ok(params)
    }

    /// Parameters from pairs known to have unique names (built by this crate).
    pub(crate) fn from_unique_pairs(pairs: Vec<(String, String)>) -> Params {
        let mut params = Params::default();
        for (n, v) in &pairs {
            params.push(n, v);
        }
        params
    }

    fn with_capacity(bytes: usize) -> Params {
        Params {
            text: String::with_capacity(bytes),
            // Real parameters average well over 16 bytes each.
            spans: Vec::with_capacity(bytes / 16 + 2),
        }
    }

    fn push(&mut self, name: &str, value: &str) {
        let a = self.text.len();
        self.text.push_str(name);
        let b = self.text.len();
        self.text.push_str(value);
        self.spans.push((a, b, self.text.len()));
    }

    fn extend_urlencoded(
        &mut self,
        input: &[u8],
        limits: &Limits,
        source: &str,
        scratch: &mut Vec<u8>,
    ) -> Result<(), Ec2Error> {
        // Raw bytes outside ASCII have no place in URL encoding: refuse them up front, then
        // work on text (fast searches, no per-component UTF-8 check when nothing is escaped).
        let input = std::str::from_utf8(input).map_err(|e| {
            Ec2Error::new(
                ErrorCode::MalformedQueryString,
                format!("The {source} is not valid UTF-8 ({e})"),
            )
        })?;
        for segment in input.split('&') {
            if segment.is_empty() {
                continue;
            }
            let (raw_name, raw_value) = segment.split_once('=').unwrap_or((segment, ""));
            if self.spans.len() >= limits.max_params {
                return Err(Ec2Error::new(
                    ErrorCode::InvalidParameterValue,
                    format!("The request has more than {} parameters", limits.max_params),
                ));
            }
            let start = self.text.len();
            decode_into(&mut self.text, raw_name, source, scratch)?;
            let mid = self.text.len();
            let name_len = mid - start;
            if name_len == 0 {
                return Err(Ec2Error::new(
                    ErrorCode::MalformedQueryString,
                    format!("A parameter in the {source} has an empty name"),
                ));
            }
            if name_len > limits.max_name_bytes {
                return Err(Ec2Error::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "The parameter name {} is {name_len} bytes long; at most {} are accepted",
                        quote(&self.text[start..mid]),
                        limits.max_name_bytes
                    ),
                ));
            }
            decode_into(&mut self.text, raw_value, source, scratch)?;
            let end = self.text.len();
            if end - mid > limits.max_value_bytes {
                return Err(Ec2Error::new(
                    ErrorCode::InvalidParameterValue,
                    format!(
                        "The value of parameter {} is {} bytes long; at most {} are accepted",
                        quote(&self.text[start..mid]),
                        end - mid,
                        limits.max_value_bytes
                    ),
                ));
            }
            self.spans.push((start, mid, end));
        }
        Ok(())
    }

    /// Refuses a name given twice, in O(n log n) so that many parameters stay cheap.
    fn check_unique(&self) -> Result<(), Ec2Error> {
        if self.spans.len() <= 16 {
            let names: Vec<&str> = self
                .spans
                .iter()
                .map(|&(a, b, _)| &self.text[a..b])
                .collect();
            for (i, n) in names.iter().enumerate() {
                if names[i + 1..].contains(n) {
                    return Err(duplicate(n));
                }
            }
            return Ok(());
        }
        let mut names: Vec<&str> = self.iter().map(|(n, _)| n).collect();
        names.sort_unstable();
        match names.windows(2).find(|w| w[0] == w[1]) {
            Some(w) => Err(duplicate(w[0])),
            None => Ok(()),
        }
    }

    /// The value of a parameter (names are case-sensitive, as in EC2).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans
            .iter()
            .map(|&(a, b, c)| (&self.text[a..b], &self.text[b..c]))
    }

    /// How many parameters there are.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The pairs whose name starts with `prefix`, with the prefix removed, in order.
    pub(crate) fn with_prefix<'a>(&'a self, prefix: &str) -> Vec<(&'a str, &'a str)> {
        self.iter()
            .filter_map(|(n, v)| n.strip_prefix(prefix).map(|rest| (rest, v)))
            .collect()
    }

    /// Encodes the parameters as a form body / query string (`%20` for spaces, unreserved
    /// characters as is), in order.
    pub fn to_urlencoded(&self) -> String {
        let mut out = String::with_capacity(self.text.len() + 2 * self.spans.len());
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.extend(percent_encoding::utf8_percent_encode(n, QUERY_ENCODE));
            out.push('=');
            out.extend(percent_encoding::utf8_percent_encode(v, QUERY_ENCODE));
        }
        out
    }
}

fn check_total(total: usize, limits: &Limits) -> Result<(), Ec2Error> {
    if total > limits.max_input_bytes {
        return Err(Ec2Error::new(
            ErrorCode::InvalidParameterValue,
            format!(
                "The request parameters are {total} bytes long; at most {} are accepted",
                limits.max_input_bytes
            ),
        ));
    }
    Ok(())
}

fn duplicate(name: &str) -> Ec2Error {
    Ec2Error::new(
        ErrorCode::InvalidParameterValue,
        format!("The parameter {} is given more than once", quote(name)),
    )
}

/// Everything but the RFC 3986 unreserved characters is encoded, as AWS clients do.
const QUERY_ENCODE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes one form component onto `out`: `+` is a space, `%XX` a byte; the result must be UTF-8.
/// `scratch` is reused between calls.
fn decode_into(
    out: &mut String,
    raw: &str,
    source: &str,
    scratch: &mut Vec<u8>,
) -> Result<(), Ec2Error> {
    let not_utf8 = |e: std::str::Utf8Error| {
        Ec2Error::new(
            ErrorCode::MalformedQueryString,
            format!("A parameter in the {source} is not valid UTF-8 after decoding ({e})"),
        )
    };
    // Fast path: nothing to decode (most names and many values).
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        out.push_str(raw);
        return Ok(());
    }
    let raw = raw.as_bytes();
    scratch.clear();
    let mut i = 0;
    while i < raw.len() {
        // Copy the run up to the next escape at once.
        let run = raw[i..]
            .iter()
            .position(|&b| b == b'%' || b == b'+')
            .unwrap_or(raw.len() - i);
        scratch.extend_from_slice(&raw[i..i + run]);
        i += run;
        let Some(&b) = raw.get(i) else { break };
        match b {
            b'+' => {
                scratch.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = raw.get(i + 1).copied().and_then(hex_value);
                let lo = raw.get(i + 2).copied().and_then(hex_value);
                match (hi, lo) {
                    (Some(h), Some(l)) => {
                        scratch.push(h << 4 | l);
                        i += 3;
                    }
                    _ => {
                        let end = raw.len().min(i + 3);
                        return Err(Ec2Error::new(
                            ErrorCode::MalformedQueryString,
                            format!(
                                "Invalid percent-encoding {:?} at byte {i} of the {source}",
                                String::from_utf8_lossy(&raw[i..end])
                            ),
                        ));
                    }
                }
            }
            _ => {
                scratch.push(b);
                i += 1;
            }
        }
    }
    out.push_str(std::str::from_utf8(scratch).map_err(not_utf8)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Params, Ec2Error> {
        Params::parse_urlencoded(s.as_bytes(), &Limits::DEFAULT)
    }

    #[test]
    fn decodes_forms() {
        let p = parse("Action=X&GroupName=web+group&D=a%2Bb%3Dc+~%C3%BC&&Empty=&Flag").unwrap();
        assert_eq!(p.get("GroupName"), Some("web group"));
        assert_eq!(p.get("D"), Some("a+b=c ~ü"));
        assert_eq!(p.get("Empty"), Some(""));
        assert_eq!(p.get("Flag"), Some(""));
        assert_eq!(p.get("action"), None);
        assert_eq!(p.len(), 5);
        assert_eq!(p.iter().next(), Some(("Action", "X")));
    }

    #[test]
    fn rejects_bad_encoding() {
        for bad in ["a=%", "a=%4", "a=%zz", "a=%C3", "%FF=1", "a=%C3%28"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.error_code(), ErrorCode::MalformedQueryString, "{bad}");
        }
        for empty_name in ["=1", "=", "a=1&=&b=2"] {
            assert_eq!(
                parse(empty_name).unwrap_err().error_code(),
                ErrorCode::MalformedQueryString,
                "{empty_name}"
            );
        }
        let e = Params::parse_urlencoded(b"a=\xff", &Limits::DEFAULT).unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::MalformedQueryString);
    }

    #[test]
    fn rejects_duplicates() {
        let e = parse("a=1&b=2&a=1").unwrap_err();
        assert_eq!(e.error_code(), ErrorCode::InvalidParameterValue);
        assert!(e.message().contains("'a'") || e.message().contains(" a "));
        let req = HttpRequest::new("POST", "/?Action=X").with_body("Action=X");
        assert!(Params::from_request(&req).is_err());
    }

    #[test]
    fn enforces_limits() {
        let limits = Limits {
            max_input_bytes: 64,
            max_params: 3,
            max_name_bytes: 4,
            max_value_bytes: 5,
        };
        let p = |s: &str| Params::parse_urlencoded(s.as_bytes(), &limits);
        assert!(p("a=1&b=2&c=3").is_ok());
        assert!(p("a=1&b=2&c=3&d=4").is_err());
        assert!(p("abcde=1").is_err());
        assert!(p("a=123456").is_err());
        assert!(p("a=%31%32%33%34%35").is_ok());
        assert!(p(&"a".repeat(65)).is_err());
        let req =
            HttpRequest::new("POST", &format!("/?{}", "x".repeat(40))).with_body("y".repeat(40));
        assert!(Params::from_request_with(&req, &limits).is_err());
    }

    #[test]
    fn reads_query_and_form_body() {
        let req = HttpRequest::new("POST", "/?Action=A")
            .with_header("Content-Type", "application/x-www-form-urlencoded")
            .with_body("Version=2016-11-15");
        let p = Params::from_request(&req).unwrap();
        assert_eq!(p.get("Action"), Some("A"));
        assert_eq!(p.get("Version"), Some("2016-11-15"));
        // Not a form: the body is not parameters.
        let req = HttpRequest::new("POST", "/?Action=A")
            .with_header("Content-Type", "application/json")
            .with_body("Version=2016-11-15");
        assert_eq!(Params::from_request(&req).unwrap().get("Version"), None);
    }

    #[test]
    fn encodes_and_decodes_back() {
        let p = Params::from_pairs([("GroupName", "web group"), ("D", "a+b=c ~ü&/")]).unwrap();
        let s = p.to_urlencoded();
        assert_eq!(s, "GroupName=web%20group&D=a%2Bb%3Dc%20~%C3%BC%26%2F");
        assert_eq!(parse(&s).unwrap(), p);
    }
}
