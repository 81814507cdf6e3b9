//! A minimal XML writer: elements in the order written, all text escaped.
//!
//! EC2 responses are flat element trees without attributes (except the root's `xmlns`), so a
//! string builder with one escaping function is all that is needed, and it is fast.

/// Appends `text` to `out`, escaped for XML character data and attribute values.
///
/// `&`, `<`, `>`, `"` and `'` become entities. Characters that XML 1.0 forbids even as character
/// references (control characters other than tab, newline and carriage return, and the
/// non-characters U+FFFE/U+FFFF) become U+FFFD, so the output is always well-formed.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    // Fast path: nothing to escape (0xEF starts U+FFFE/U+FFFF, checked on the slow path).
    if !text.bytes().any(|b| {
        matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0xEF)
            || (b < 0x20 && b != b'\t' && b != b'\n')
    }) {
        out.push_str(text);
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            // A literal CR would be normalised away by parsers: keep it as a reference.
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            _ => out.push(c),
        }
    }
}

/// Builds an XML document element by element.
#[derive(Debug)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// A document starting with the XML declaration.
    pub(crate) fn new() -> Self {
        let mut out = String::with_capacity(1024);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        XmlWriter { out }
    }

    /// Opens the root element `<{action}Response xmlns="http://ec2.amazonaws.com/doc/{version}/">`.
    pub(crate) fn root(&mut self, action: &str, version: &str) {
        self.out.push('<');
        self.out.push_str(action);
        self.out
            .push_str("Response xmlns=\"http://ec2.amazonaws.com/doc/");
        escape_into(&mut self.out, version);
        self.out.push_str("/\">");
    }

    /// Closes the root element.
    pub(crate) fn close_root(&mut self, action: &str) {
        self.out.push_str("</");
        self.out.push_str(action);
        self.out.push_str("Response>");
    }

    /// Opens an element.
    pub(crate) fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Closes an element.
    pub(crate) fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Writes `<name>text</name>`, escaped.
    pub(crate) fn text(&mut self, name: &str, text: &str) {
        self.open(name);
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// Writes `<name>text</name>` when there is a value, nothing otherwise.
    pub(crate) fn opt_text(&mut self, name: &str, text: Option<&str>) {
        if let Some(t) = text {
            self.text(name, t);
        }
    }

    /// Writes an element holding a `Display` value (numbers, addresses, ids).
    pub(crate) fn display(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::fmt::Write as _;
        self.open(name);
        let start = self.out.len();
        // Writing to a String cannot fail.
        let _ = write!(self.out, "{value}");
        // Display output of our own types never needs escaping, but stay safe for any type.
        if self.out[start..]
            .bytes()
            .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'') || b < 0x20)
        {
            let raw = self.out.split_off(start);
            escape_into(&mut self.out, &raw);
        }
        self.close(name);
    }

    /// Writes a lowercase boolean, the only spelling boto 2 reads as true.
    pub(crate) fn boolean(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    /// Writes an empty element `<name/>`.
    pub(crate) fn empty(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
    }

    /// The document.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_forbidden_characters() {
        let mut s = String::new();
        escape_into(&mut s, "a<b>&\"'\u{0}\u{1b}\t\n\r\u{fffe}ü");
        assert_eq!(
            s,
            "a&lt;b&gt;&amp;&quot;&apos;\u{fffd}\u{fffd}\t\n&#13;\u{fffd}ü"
        );
    }

    #[test]
    fn writer_builds_documents() {
        let mut w = XmlWriter::new();
        w.root("R", "v");
        w.text("a", "1<2");
        w.display("n", 42);
        w.display("s", "x&y");
        w.boolean("b", true);
        w.empty("e");
        w.opt_text("none", None);
        w.close_root("R");
        assert_eq!(
            w.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<RResponse xmlns=\"http://ec2.amazonaws.com/doc/v/\"><a>1&lt;2</a><n>42</n><s>x&amp;y</s><b>true</b><e/></RResponse>"
        );
    }
}
