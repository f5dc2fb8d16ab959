//! List answers as the API server writes them: items of built-in kinds without their
//! own `kind`/`apiVersion` (a typed list's items carry none; custom resources, served
//! unstructured, keep them), pages with continue tokens in the server's format, and
//! `remainingItemCount` only for unfiltered lists (k8s.io/apiserver v0.36.3
//! `pkg/storage/etcd3/store.go`: the count is known only without a predicate).

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::{Value, json};

use super::resources::ResourceDef;
use super::status::ApiError;
use super::store::Store;

/// One page of a list: the items, and where the next page starts.
pub struct Page {
    pub items: Vec<Value>,
    /// The continue token of the next page, if there is one.
    pub next: Option<String>,
    /// How many items are left after this page.
    pub remaining: usize,
}

/// The sort key of an object in a list (namespace, then name), which continue tokens
/// carry.
pub fn key_of(obj: &Value) -> String {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    format!("{ns}/{name}")
}

/// base64url without padding, as Go's `base64.RawURLEncoding`: lenient about the
/// trailing bits of the last character.
const RAW_URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A continue token in the API server's format: base64url (no padding) of
/// `{"v":"meta.k8s.io/v1","rv":<rv>,"start":"<key>\u0000"}` (k8s.io/apiserver
/// `pkg/storage/continue.go`), the key being where the next page starts.
pub fn encode_continue(last_key: &str, rv: u64) -> String {
    let body = json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{last_key}\u{0}")});
    RAW_URL.encode(body.to_string())
}

/// The key after which a continue token starts; a 400 like the API server's for a
/// token it did not issue.
pub fn decode_continue(token: &str) -> Result<String, ApiError> {
    let bad = |why: String| {
        ApiError::bad_request(format!(
            "invalid continue token: continue key is not valid: {why}"
        ))
    };
    let bytes = RAW_URL
        .decode(token)
        .map_err(|e| bad(format!("illegal base64 data: {e}")))?;
    let parsed: Value = serde_json::from_slice(&bytes).map_err(|e| {
        bad(match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b) if !b"{[\"-0123456789tfn".contains(b) => format!(
                "invalid character {} looking for beginning of value",
                go_quote_byte(*b)
            ),
            _ => e.to_string(),
        })
    })?;
    let start = parsed
        .get("start")
        .and_then(Value::as_str)
        .filter(|_| parsed.get("v").and_then(Value::as_str) == Some("meta.k8s.io/v1"))
        .ok_or_else(|| bad("unexpected format".to_owned()))?;
    Ok(start.trim_end_matches('\u{0}').to_owned())
}

/// A byte as Go's encoding/json quotes it in an error (`'x'`, `'\u009e'`).
fn go_quote_byte(b: u8) -> String {
    let c = char::from(b);
    match c {
        '\'' => r"'\''".to_owned(),
        '"' => "'\"'".to_owned(),
        '\u{7}' => r"'\a'".to_owned(),
        '\u{8}' => r"'\b'".to_owned(),
        '\u{c}' => r"'\f'".to_owned(),
        '\n' => r"'\n'".to_owned(),
        '\r' => r"'\r'".to_owned(),
        '\t' => r"'\t'".to_owned(),
        '\u{b}' => r"'\v'".to_owned(),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => format!(r"'\x{b:02x}'"),
        c if (0x80..0xa0).contains(&(c as u32)) || c as u32 == 0xad => {
            format!(r"'\u{:04x}'", c as u32)
        }
        c => format!("'{c}'"),
    }
}

/// The page of `items` (sorted by [`key_of`]) after `cont`, at most `limit` long.
pub fn page(
    mut items: Vec<Value>,
    cont: Option<&str>,
    limit: Option<usize>,
    rv: u64,
) -> Result<Page, ApiError> {
    // The API server lists in the order of its storage keys, `<namespace>/<name>`.
    items.sort_by_key(key_of);
    let start = match cont {
        Some(token) => {
            let after = decode_continue(token)?;
            items
                .iter()
                .position(|o| key_of(o) > after)
                .unwrap_or(items.len())
        }
        None => 0,
    };
    let rest = &items[start..];
    Ok(match limit {
        Some(l) if rest.len() > l => Page {
            items: rest[..l].to_vec(),
            next: Some(encode_continue(&key_of(&rest[l - 1]), rv)),
            remaining: rest.len() - l,
        },
        _ => Page {
            items: rest.to_vec(),
            next: None,
            remaining: 0,
        },
    })
}

/// A list body; `filtered` (a label or field selector was given) leaves
/// `remainingItemCount` out.
pub fn body(def: &ResourceDef, version: &str, page: Page, rv: u64, filtered: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = page.next {
        meta["continue"] = json!(c);
        if !filtered {
            meta["remainingItemCount"] = json!(page.remaining);
        }
    }
    json!({
        "kind": format!("{}List", def.kind),
        "apiVersion": def.api_version(version),
        "metadata": meta,
        "items": page.items.into_iter().map(|o| item(def, version, o)).collect::<Vec<_>>(),
    })
}

/// An item of a list: a custom resource as it is presented alone, a built-in without
/// `kind` and `apiVersion`.
pub fn item(def: &ResourceDef, version: &str, obj: Value) -> Value {
    let mut obj = Store::present(def, version, obj);
    if !def.custom
        && let Some(m) = obj.as_object_mut()
    {
        m.remove("kind");
        m.remove("apiVersion");
    }
    obj
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip_and_strangers_are_refused() {
        let token = encode_continue("ns/b", 42);
        assert_eq!(decode_continue(&token).unwrap(), "ns/b");
        assert_eq!(
            decode_continue("not-a-token").unwrap_err().message,
            "invalid continue token: continue key is not valid: invalid character '\\u009e' looking for beginning of value"
        );
    }
}
