//! Protobuf request bodies, read for the kinds kubectl's typed commands send that
//! way (`kubectl create namespace`, `create configmap`, `create secret`): kubectl
//! sends built-in kinds as `application/vnd.kubernetes.protobuf` and does not fall
//! back to JSON when a server answers 415 (seen with kubectl 1.32, 1.33 and 1.36), so
//! a faithful sandbox reads them. Other kinds in protobuf get the real server's 415
//! for a format it does not read.
//!
//! The format, from the real sources: a body is the magic `k8s\0`
//! (kubernetes/apimachinery `pkg/runtime/serializer/protobuf/protobuf.go`), then a
//! `runtime.Unknown` message (`pkg/runtime/generated.proto`: typeMeta = 1 {apiVersion
//! = 1, kind = 2}, raw = 2, contentEncoding = 3, contentType = 4) whose `raw` is the
//! object: `ObjectMeta` (`pkg/apis/meta/v1/generated.proto`: name = 1, generateName =
//! 2, namespace = 3, labels = 11, annotations = 12, finalizers = 14), and per kind
//! (kubernetes/api `core/v1/generated.proto`) Namespace {metadata = 1, spec = 2
//! {finalizers = 1}}, ConfigMap {metadata = 1, data = 2, binaryData = 3, immutable =
//! 4}, Secret {metadata = 1, data = 2 (bytes), type = 3, stringData = 4, immutable =
//! 5}. Maps are repeated entries {key = 1, value = 2}.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::limits;
use super::status::ApiError;

/// The media type of protobuf bodies.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// One field of a message: its number and its value.
enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of a message, in order; `None` on malformed input.
fn fields(mut buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = varint(&mut buf)?;
        let number = key >> 3;
        let field = match key & 7 {
            0 => Field::Varint(varint(&mut buf)?),
            1 => {
                buf = buf.get(8..)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(varint(&mut buf)?).ok()?;
                let (bytes, rest) = (buf.get(..len)?, buf.get(len..)?);
                buf = rest;
                Field::Bytes(bytes)
            }
            5 => {
                buf = buf.get(4..)?;
                Field::Fixed
            }
            _ => return None,
        };
        out.push((number, field));
    }
    Some(out)
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn text(bytes: &[u8]) -> Option<String> {
    String::from_utf8(bytes.to_vec()).ok()
}

/// A map entry {key = 1, value = 2}.
fn entry(bytes: &[u8]) -> Option<(String, &[u8])> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    for (n, f) in fields(bytes)? {
        match (n, f) {
            (1, Field::Bytes(b)) => key = text(b)?,
            (2, Field::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Some((key, value))
}

fn insert_string_entry(map: &mut Map<String, Value>, bytes: &[u8]) -> Option<()> {
    let (k, v) = entry(bytes)?;
    map.insert(k, json!(text(v)?));
    Some(())
}

fn insert_bytes_entry(map: &mut Map<String, Value>, bytes: &[u8]) -> Option<()> {
    let (k, v) = entry(bytes)?;
    map.insert(
        k,
        json!(base64::engine::general_purpose::STANDARD.encode(v)),
    );
    Some(())
}

fn object_meta(bytes: &[u8]) -> Option<Value> {
    let mut meta = Map::new();
    let (mut labels, mut annotations) = (Map::new(), Map::new());
    let mut finalizers = Vec::new();
    for (n, f) in fields(bytes)? {
        let Field::Bytes(b) = f else { continue };
        match n {
            1 => {
                meta.insert("name".into(), json!(text(b)?));
            }
            2 => {
                meta.insert("generateName".into(), json!(text(b)?));
            }
            3 => {
                meta.insert("namespace".into(), json!(text(b)?));
            }
            11 => insert_string_entry(&mut labels, b)?,
            12 => insert_string_entry(&mut annotations, b)?,
            14 => finalizers.push(json!(text(b)?)),
            _ => {}
        }
    }
    for (key, map) in [("labels", labels), ("annotations", annotations)] {
        if !map.is_empty() {
            meta.insert(key.into(), Value::Object(map));
        }
    }
    if !finalizers.is_empty() {
        meta.insert("finalizers".into(), Value::Array(finalizers));
    }
    Some(Value::Object(meta))
}

/// The object a protobuf body holds, as JSON; 415 for a kind the sandbox does not
/// read in protobuf, 400 for a body that is not protobuf.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let malformed =
        || ApiError::bad_request("error decoding the request body: not a valid protobuf object");
    let unknown = body.strip_prefix(MAGIC).ok_or_else(malformed)?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    for (n, f) in fields(unknown).ok_or_else(malformed)? {
        match (n, f) {
            (1, Field::Bytes(b)) => {
                for (n, f) in fields(b).ok_or_else(malformed)? {
                    match (n, f) {
                        (1, Field::Bytes(v)) => api_version = text(v).ok_or_else(malformed)?,
                        (2, Field::Bytes(v)) => kind = text(v).ok_or_else(malformed)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(b)) => raw = Some(b),
            _ => {}
        }
    }
    let raw = raw.ok_or_else(malformed)?;
    let object = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Namespace" | "ConfigMap" | "Secret") => object(&kind, raw),
        _ => return Err(limits::unreadable_body()),
    };
    let mut object = object.ok_or_else(malformed)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

fn object(kind: &str, raw: &[u8]) -> Option<Value> {
    let mut out = Map::new();
    let (mut data, mut binary, mut string_data) = (Map::new(), Map::new(), Map::new());
    let mut finalizers = Vec::new();
    for (n, f) in fields(raw)? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(b)) => {
                out.insert("metadata".into(), object_meta(b)?);
            }
            ("Namespace", 2, Field::Bytes(b)) => {
                for (n, f) in fields(b)? {
                    if let (1, Field::Bytes(v)) = (n, f) {
                        finalizers.push(json!(text(v)?));
                    }
                }
            }
            ("ConfigMap", 2, Field::Bytes(b)) => insert_string_entry(&mut data, b)?,
            ("ConfigMap", 3, Field::Bytes(b)) => insert_bytes_entry(&mut binary, b)?,
            ("ConfigMap", 4, Field::Varint(v)) | ("Secret", 5, Field::Varint(v)) => {
                out.insert("immutable".into(), json!(v != 0));
            }
            ("Secret", 2, Field::Bytes(b)) => insert_bytes_entry(&mut data, b)?,
            ("Secret", 3, Field::Bytes(b)) => {
                out.insert("type".into(), json!(text(b)?));
            }
            ("Secret", 4, Field::Bytes(b)) => insert_string_entry(&mut string_data, b)?,
            _ => {}
        }
    }
    for (key, map) in [
        ("data", data),
        ("binaryData", binary),
        ("stringData", string_data),
    ] {
        if !map.is_empty() {
            out.insert(key.into(), Value::Object(map));
        }
    }
    if !finalizers.is_empty() {
        out.insert("spec".into(), json!({"finalizers": finalizers}));
    }
    Some(Value::Object(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![
            u8::try_from(number << 3 | 2).unwrap(),
            u8::try_from(bytes.len()).unwrap(),
        ];
        out.extend_from_slice(bytes);
        out
    }

    fn envelope(kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, b"v1"), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, raw)].concat()
    }

    #[test]
    fn reads_what_kubectl_create_sends() {
        let labels = [field(1, b"team"), field(2, b"sre")].concat();
        let meta = [field(1, b"foo"), field(11, &labels)].concat();
        let ns = decode(&envelope("Namespace", &field(1, &meta))).unwrap();
        assert_eq!(
            ns,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "foo", "labels": {"team": "sre"}}})
        );
        let entry = [field(1, b"k"), field(2, b"\x00\x01")].concat();
        let secret_raw = [
            field(1, &field(1, b"s")),
            field(2, &entry),
            field(3, b"Opaque"),
        ]
        .concat();
        let secret = decode(&envelope("Secret", &secret_raw)).unwrap();
        assert_eq!(secret["data"]["k"], "AAE=");
        assert_eq!(secret["type"], "Opaque");
    }

    #[test]
    fn other_kinds_and_garbage_are_refused() {
        let e = decode(&envelope("Pod", &field(1, &field(1, b"p")))).unwrap_err();
        assert_eq!(e.code, 415);
        for garbage in [&b"k8s\0\xff\xff\xff"[..], b"not protobuf", b"k8s\0\x0a\x7f"] {
            assert_eq!(decode(garbage).unwrap_err().code, 400);
        }
    }
}
