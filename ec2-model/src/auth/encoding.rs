//! The byte-level canonical forms shared by SigV4 and SigV2: URI encoding, query strings and
//! paths.
//!
//! Both signature versions percent-encode every byte except the RFC 3986 unreserved characters
//! (`A-Z a-z 0-9 - _ . ~`), with uppercase hex digits and `%20` for a space. Query components are
//! first decoded exactly as a form decoder does (`+` is a space, `%XX` a byte; a `%` not followed
//! by two hex digits stays a literal `%`) into raw bytes, never into lossy UTF-8, so that two
//! different byte strings never share a canonical form.

use std::borrow::Cow;

use percent_encoding::{percent_decode, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte but the RFC 3986 unreserved characters is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Paths keep their `/` separators.
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// Appends the AWS URI encoding of `bytes` to `out`.
pub(crate) fn uri_encode_into(out: &mut String, bytes: &[u8]) {
    out.extend(percent_encoding::percent_encode(bytes, UNRESERVED));
}

/// The AWS URI encoding of a string.
pub(crate) fn uri_encode(s: &str) -> String {
    utf8_percent_encode(s, UNRESERVED).to_string()
}

/// Decodes one query or form component (`+` is a space, `%XX` a byte) into raw bytes.
pub(crate) fn form_decode(raw: &str) -> Cow<'_, [u8]> {
    if raw.contains('+') {
        let spaced: Vec<u8> = raw
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        Cow::Owned(percent_decode(&spaced).collect())
    } else {
        percent_decode(raw.as_bytes()).into()
    }
}

/// The `key=value` pairs of a query string or form body, raw (still encoded). Empty components
/// (`a=1&&b=2`) are skipped; a component without `=` has an empty value.
pub(crate) fn raw_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|c| !c.is_empty())
        .map(|c| c.split_once('=').unwrap_or((c, "")))
}

/// The value of the first parameter whose decoded name is `name`, decoded (lossy UTF-8 is not
/// used: a value that is not UTF-8 is returned as `Err` with its raw form).
pub(crate) fn find_param<'q>(query: &'q str, name: &str) -> Option<Result<String, &'q str>> {
    raw_pairs(query)
        .find(|(k, _)| form_decode(k).as_ref() == name.as_bytes())
        .map(|(_, v)| String::from_utf8(form_decode(v).into_owned()).map_err(|_| v))
}

/// How many parameters have the decoded name `name`.
pub(crate) fn count_param(query: &str, name: &str) -> usize {
    raw_pairs(query)
        .filter(|(k, _)| form_decode(k).as_ref() == name.as_bytes())
        .count()
}

/// The canonical form of parameter pairs: each name and value decoded then URI-encoded, sorted
/// by name then value (byte order), joined as `k=v&k=v`. Parameters whose decoded name satisfies
/// `skip` are left out (the signature itself).
pub(crate) fn canonical_query<'q>(
    sources: impl IntoIterator<Item = &'q str>,
    skip: impl Fn(&[u8]) -> bool,
) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for source in sources {
        for (k, v) in raw_pairs(source) {
            let key = form_decode(k);
            if skip(&key) {
                continue;
            }
            let mut ek = String::with_capacity(k.len());
            uri_encode_into(&mut ek, &key);
            let mut ev = String::with_capacity(v.len());
            uri_encode_into(&mut ev, &form_decode(v));
            pairs.push((ek, ev));
        }
    }
    pairs.sort_unstable();
    let len = pairs.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(len);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The SigV4 canonical URI of a path as received: dot segments and empty segments removed (as
/// botocore normalises it), then every segment URI-encoded once more (the AWS rule for every
/// service but S3, so `%2F` in the path becomes `%252F`). An empty path is `/`.
pub(crate) fn canonical_path(path: &str) -> String {
    if path.is_empty() || path == "/" {
        return "/".to_owned();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    if path.starts_with('/') {
        out.push('/');
    }
    for (i, s) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        out.extend(utf8_percent_encode(s, PATH));
    }
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_all_but_unreserved() {
        assert_eq!(uri_encode("aZ09-_.~"), "aZ09-_.~");
        assert_eq!(uri_encode("a b+c/d=e&ü*"), "a%20b%2Bc%2Fd%3De%26%C3%BC%2A");
    }

    #[test]
    fn decodes_forms_to_bytes() {
        assert_eq!(form_decode("a+b%20c").as_ref(), b"a b c");
        assert_eq!(form_decode("%2f%2F").as_ref(), b"//");
        assert_eq!(form_decode("%FF%zz%").as_ref(), b"\xff%zz%");
    }

    #[test]
    fn canonical_query_sorts_and_reencodes() {
        let q = canonical_query(["b=2&a=x+y&a=%41&Signature=s&&c"], |k| k == b"Signature");
        assert_eq!(q, "a=A&a=x%20y&b=2&c=");
        // Two sources (query and form) merge.
        assert_eq!(canonical_query(["z=1", "y=2"], |_| false), "y=2&z=1");
        assert_eq!(canonical_query([""], |_| false), "");
        // Distinct bytes stay distinct: an invalid escape is a literal '%'.
        assert_eq!(canonical_query(["a=%zz"], |_| false), "a=%25zz");
        assert_eq!(canonical_query(["a=%FF"], |_| false), "a=%FF");
    }

    #[test]
    fn finds_params() {
        assert_eq!(
            find_param("a=1&X-Amz-Date=2&a=3", "a"),
            Some(Ok("1".to_owned()))
        );
        assert_eq!(find_param("x=%2F", "x"), Some(Ok("/".to_owned())));
        assert_eq!(find_param("x=%FF", "x"), Some(Err("%FF")));
        assert_eq!(find_param("a=1", "b"), None);
        assert_eq!(count_param("a=1&a=2&b", "a"), 2);
    }

    #[test]
    fn paths_are_normalised_and_encoded_twice() {
        assert_eq!(canonical_path(""), "/");
        assert_eq!(canonical_path("/"), "/");
        assert_eq!(canonical_path("//a/./b/../c/"), "/a/c/");
        assert_eq!(canonical_path("/a b/%2F"), "/a%20b/%252F");
        assert_eq!(canonical_path("/.."), "/");
    }
}
