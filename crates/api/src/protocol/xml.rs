//! XML answers of the Query protocols, as botocore's parsers read them: elements named by each
//! member's `locationName`, lists as `<xxxSet><item>...</item></xxxSet>` (EC2) or
//! `<member>` (Query), booleans as `true`/`false`. Two document flavours:
//!
//! - EC2's: `<ActionResponse xmlns=NS><requestId>...</requestId>...</ActionResponse>`, errors
//!   as `<Response><Errors><Error>...</Error></Errors><RequestID>...`;
//! - the Query protocol's (ELBv2, IAM, STS, CloudWatch):
//!   `<ActionResponse xmlns=NS><ActionResult>...</ActionResult><ResponseMetadata>...`, errors
//!   as `<ErrorResponse><Error><Type>Sender</Type>...`.
//!
//! Text is escaped, and what XML 1.0 cannot carry at all (most control characters, even as
//! character references) is written as U+FFFD: one stray byte in a stored description must
//! not make every later document unparseable.

/// Which document shapes a service's answers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlFlavor {
    /// EC2's (botocore protocol `ec2`).
    Ec2,
    /// The Query protocol's (botocore protocol `query`).
    Query,
}

/// An XML document being written.
#[derive(Debug)]
pub struct Xml {
    out: String,
    action: String,
    flavor: XmlFlavor,
    request_id: String,
}

impl Xml {
    /// A document answering `action`, in `namespace`, of the service's `flavor`.
    pub fn response(action: &str, namespace: &str, flavor: XmlFlavor, request_id: &str) -> Self {
        let mut xml = Self {
            out: String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#),
            action: action.to_owned(),
            flavor,
            request_id: request_id.to_owned(),
        };
        xml.out
            .push_str(&format!(r#"<{action}Response xmlns="{namespace}">"#));
        match flavor {
            XmlFlavor::Ec2 => {
                xml.text("requestId", request_id);
            }
            XmlFlavor::Query => xml.out.push_str(&format!("<{action}Result>")),
        }
        xml
    }

    /// Closes the root and returns the document.
    pub fn finish(mut self) -> String {
        let action = &self.action;
        if self.flavor == XmlFlavor::Query {
            self.out
                .push_str(&format!("</{action}Result><ResponseMetadata><RequestId>"));
            escape_into(&mut self.out, &self.request_id);
            self.out.push_str("</RequestId></ResponseMetadata>");
        }
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

    /// `value`, escaped, where the document is (a list of plain strings' members).
    pub fn value(&mut self, value: &str) -> &mut Self {
        escape_into(&mut self.out, value);
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

    /// `<name><member>...</member>...</name>`, one member per element of `items` (the Query
    /// protocol's lists).
    pub fn members<T>(
        &mut self,
        name: &str,
        items: impl IntoIterator<Item = T>,
        mut member: impl FnMut(&mut Self, T),
    ) -> &mut Self {
        self.element(name, |xml| {
            for value in items {
                xml.element("member", |xml| member(xml, value));
            }
        })
    }

    /// `<name><item>...</item>...</name>`, one item per element of `items` (EC2's lists).
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

/// An error document of `flavor`. `sender` says whose fault it is (the Query protocol's
/// `Type`: `Sender` for the caller's, `Receiver` for the server's).
pub fn error(
    flavor: XmlFlavor,
    code: &str,
    message: &str,
    sender: bool,
    request_id: &str,
) -> String {
    let mut out = String::from(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    match flavor {
        XmlFlavor::Ec2 => {
            out.push_str("<Response><Errors><Error><Code>");
            escape_into(&mut out, code);
            out.push_str("</Code><Message>");
            escape_into(&mut out, message);
            out.push_str("</Message></Error></Errors><RequestID>");
            escape_into(&mut out, request_id);
            out.push_str("</RequestID></Response>");
        }
        XmlFlavor::Query => {
            out.push_str("<ErrorResponse><Error><Type>");
            out.push_str(if sender { "Sender" } else { "Receiver" });
            out.push_str("</Type><Code>");
            escape_into(&mut out, code);
            out.push_str("</Code><Message>");
            escape_into(&mut out, message);
            out.push_str("</Message></Error><RequestId>");
            escape_into(&mut out, request_id);
            out.push_str("</RequestId></ErrorResponse>");
        }
    }
    out
}

/// Whether XML 1.0 can carry `c` at all (its `Char` production).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A parser turns a raw CR into LF; a reference keeps it.
            '\r' => out.push_str("&#13;"),
            c if !is_xml_char(c) => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EC2: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

    #[test]
    fn ec2_documents_nest_and_escape() {
        let mut xml = Xml::response("DescribeVpcs", EC2, XmlFlavor::Ec2, "r-1");
        xml.set("vpcSet", ["a<b"], |xml, id| {
            xml.text("vpcId", id).boolean("isDefault", true);
        });
        assert_eq!(
            xml.finish(),
            r#"<?xml version="1.0" encoding="UTF-8"?><DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><vpcSet><item><vpcId>a&lt;b</vpcId><isDefault>true</isDefault></item></vpcSet></DescribeVpcsResponse>"#
        );
        assert!(
            error(XmlFlavor::Ec2, "A.B", "x & y", true, "r")
                .contains("<Code>A.B</Code><Message>x &amp; y</Message>")
        );
    }

    #[test]
    fn query_documents_wrap_a_result_and_metadata() {
        let mut xml = Xml::response("GetCallerIdentity", "ns", XmlFlavor::Query, "r-2");
        xml.text("Account", "000000000000");
        assert_eq!(
            xml.finish(),
            r#"<?xml version="1.0" encoding="UTF-8"?><GetCallerIdentityResponse xmlns="ns"><GetCallerIdentityResult><Account>000000000000</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>r-2</RequestId></ResponseMetadata></GetCallerIdentityResponse>"#
        );
        let error = error(XmlFlavor::Query, "InvalidAction", "no", true, "r-3");
        assert!(
            error.contains("<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code>"),
            "{error}"
        );
    }

    #[test]
    fn what_xml_cannot_carry_is_replaced() {
        let mut xml = Xml::response("X", EC2, XmlFlavor::Ec2, "r");
        xml.text("d", "a\u{1}b\u{0}c\u{FFFE}\td\re\n");
        assert!(
            xml.finish()
                .contains("<d>a\u{FFFD}b\u{FFFD}c\u{FFFD}\td&#13;e\n</d>")
        );
    }
}
