//! The HTTP request as this crate sees it: method, path, raw query, headers and body bytes.
//!
//! No server framework is involved: any server copies its request into an [`HttpRequest`]
//! (the body fully read, bounded by the server). Signature verification needs the raw query
//! string and the raw body, so both are kept exactly as received.

/// An HTTP request carrying an EC2 Query API call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpRequest {
    /// The method, as sent (`GET`, `POST`). Compared case-sensitively, as HTTP methods are.
    pub method: String,
    /// The path, still percent-encoded, without the query (`/` for EC2).
    pub path: String,
    /// The raw query string after `?`, still percent-encoded; empty when there is none.
    pub query: String,
    /// The header fields in the order received, names as sent (look them up with
    /// [`HttpRequest::header`], which ignores case).
    pub headers: Vec<(String, String)>,
    /// The body bytes as received.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request from a method and a request target (`/path?query`), without headers or body.
    ///
    /// ```
    /// let r = ec2_model::HttpRequest::new("GET", "/?Action=DescribeAddresses&Version=2016-11-15");
    /// assert_eq!(r.path, "/");
    /// assert_eq!(r.query, "Action=DescribeAddresses&Version=2016-11-15");
    /// ```
    pub fn new(method: impl Into<String>, target: &str) -> Self {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        HttpRequest {
            method: method.into(),
            path: path.to_owned(),
            query: query.to_owned(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A `POST /` of a form body, with the `Content-Type` botocore sends.
    ///
    /// ```
    /// let r = ec2_model::HttpRequest::form_post("Action=DescribeAddresses&Version=2016-11-15");
    /// assert_eq!(r.header("content-type"), Some("application/x-www-form-urlencoded; charset=utf-8"));
    /// ```
    pub fn form_post(body: impl Into<Vec<u8>>) -> Self {
        HttpRequest::new("POST", "/")
            .with_header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .with_body(body)
    }

    /// Adds a header field (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Replaces the body (builder style).
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The value of the first header field with this name, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every header field with this name, ignoring ASCII case, in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lowercased, without parameters (`charset=...`).
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// Whether the body is a form that carries parameters: a `POST` whose content type is
    /// `application/x-www-form-urlencoded`, or absent while the body is not empty.
    pub fn has_form_body(&self) -> bool {
        if !self.method.eq_ignore_ascii_case("POST") {
            return false;
        }
        match self.header("content-type") {
            Some(v) => v
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded"),
            None => !self.body.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_target() {
        let r = HttpRequest::new("GET", "/a/b");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/a/b", ""));
        let r = HttpRequest::new("GET", "/?a=1?b");
        assert_eq!((r.path.as_str(), r.query.as_str()), ("/", "a=1?b"));
    }

    #[test]
    fn headers_ignore_case() {
        let r = HttpRequest::new("POST", "/")
            .with_header("X-Amz-Date", "1")
            .with_header("x-amz-date", "2")
            .with_header(
                "Content-Type",
                "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            );
        assert_eq!(r.header("X-AMZ-DATE"), Some("1"));
        assert_eq!(
            r.header_values("x-amz-date").collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(
            r.media_type().as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        assert!(r.has_form_body());
        assert!(!HttpRequest::new("GET", "/").has_form_body());
        assert!(!HttpRequest::new("POST", "/").has_form_body());
        assert!(HttpRequest::new("POST", "/")
            .with_body("a=b")
            .has_form_body());
        let json = HttpRequest::new("POST", "/")
            .with_header("content-type", "application/json")
            .with_body("{}");
        assert!(!json.has_form_body());
    }
}
