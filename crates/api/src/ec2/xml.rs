//! EC2's Query protocol, writing side: XML documents as botocore's EC2 parser reads them —
//! elements named by each member's `locationName`, lists as `<xxxSet><item>...</item></xxxSet>`,
//! booleans as `true`/`false`.

/// An XML document being written.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    /// A document whose root is `ACTIONResponse` in EC2's namespace, starting with the
    /// request id.
    pub fn response(action: &str, request_id: &str) -> Self {
        let mut xml = Self {
            out: String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
        };
        xml.out.push_str(&format!(
            r#"<{action}Response xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">"#
        ));
        xml.text("requestId", request_id);
        xml
    }

    /// Closes the root and returns the document.
    pub fn finish(mut self, action: &str) -> String {
        self.out.push_str(&format!("</{action}Response>"));
        self.out
    }

    /// `<name>value</name>`, the value escaped.
    pub fn text(&mut self, name: &str, value: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, value);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>value</name>` when there is a value.
    pub fn optional(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.text(name, value);
        }
        self
    }

    /// `<name>true|false</name>`.
    pub fn boolean(&mut self, name: &str, value: bool) -> &mut Self {
        self.text(name, if value { "true" } else { "false" })
    }

    /// `<name>` ... `</name>` around what `body` writes.
    pub fn element(&mut self, name: &str, body: impl FnOnce(&mut Self)) -> &mut Self {
        self.out.push_str(&format!("<{name}>"));
        body(self);
        self.out.push_str(&format!("</{name}>"));
        self
    }

    /// `<name><item>...</item>...</name>`, one item per element of `items`.
    pub fn set<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut item: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.element(name, |xml| {
            for value in items {
                xml.element("item", |xml| item(xml, value));
            }
        })
    }
}

/// EC2's error document.
pub fn error(code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    out.push_str("<Response><Errors><Error><Code>");
    escape_into(&mut out, code);
    out.push_str("</Code><Message>");
    escape_into(&mut out, message);
    out.push_str("</Message></Error></Errors><RequestID>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestID></Response>");
    out
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_nest_and_escape() {
        let mut xml = Xml::response("DescribeVpcs", "r-1");
        xml.set("vpcSet", ["a<b"], |xml, id| {
            xml.text("vpcId", id).boolean("isDefault", true);
        });
        assert_eq!(
            xml.finish("DescribeVpcs"),
            r#"<?xml version="1.0" encoding="UTF-8"?><DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><vpcSet><item><vpcId>a&lt;b</vpcId><isDefault>true</isDefault></item></vpcSet></DescribeVpcsResponse>"#
        );
        assert!(
            error("A.B", "x & y", "r").contains("<Code>A.B</Code><Message>x &amp; y</Message>")
        );
    }
}
