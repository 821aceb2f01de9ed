//! MessagePack values as the hub reads them from clients: every plain value becomes the
//! `serde_json::Value` the JSON protocol would have given, and the **timestamp extension**
//! (type −1, which the JavaScript client writes for a `Date` and the .NET and Java clients for
//! a `DateTime`) becomes its RFC 3339 string, so `ReplaySince(new Date(…))` means the same in
//! both protocols. Any other extension is refused, as before (the message is malformed).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The MessagePack timestamp extension's type.
const TIMESTAMP: i8 = -1;

/// One value of a client's hub message.
pub struct HubValue(pub Value);

impl<'de> Deserialize<'de> for HubValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor).map(HubValue)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a MessagePack value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        // As serde_json does: a NaN or an infinity has no JSON number.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        HubValue::deserialize(d).map(|v| v.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(HubValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let HubValue(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(Value::Object(object))
    }

    /// rmp-serde hands an extension over as a newtype struct holding `(type, data)`.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        let (kind, Data(data)) = <(i8, Data)>::deserialize(d)?;
        if kind != TIMESTAMP {
            return Err(de::Error::custom(
                "an extension type other than a timestamp",
            ));
        }
        let time = timestamp(&data).ok_or_else(|| de::Error::custom("an invalid timestamp"))?;
        time.format(&Rfc3339)
            .map(Value::String)
            .map_err(de::Error::custom)
    }
}

/// An extension's data bytes.
struct Data(Vec<u8>);

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("extension data")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Data, E> {
                Ok(Data(v.to_vec()))
            }
        }
        d.deserialize_bytes(BytesVisitor)
    }
}

/// The time a timestamp extension's data holds: 32 bits of seconds; 30 bits of nanoseconds and
/// 34 of seconds; or 32 bits of nanoseconds and 64 of signed seconds (the MessagePack spec).
fn timestamp(data: &[u8]) -> Option<OffsetDateTime> {
    let (seconds, nanos) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let v = u64::from_be_bytes(data.try_into().ok()?);
            ((v & 0x3_FFFF_FFFF) as i64, (v >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..].try_into().ok()?),
            u32::from_be_bytes(data[..4].try_into().ok()?),
        ),
        _ => return None,
    };
    if nanos >= 1_000_000_000 {
        return None;
    }
    let time = OffsetDateTime::from_unix_timestamp(seconds).ok()?;
    Some(time + time::Duration::nanoseconds(i64::from(nanos)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::hex;

    fn read(bytes: &[u8]) -> Result<Value, rmp_serde::decode::Error> {
        let mut de = rmp_serde::Deserializer::new(std::io::Cursor::new(bytes));
        HubValue::deserialize(&mut de).map(|v| v.0)
    }

    #[test]
    fn plain_values_read_as_json_values() {
        // ["a", 1, -2, 1.5, true, nil, {"k": [1]}]
        let bytes = hex("97 A1 61 01 FE CB 3F F8 00 00 00 00 00 00 C3 C0 81 A1 6B 91 01");
        assert_eq!(
            read(&bytes).unwrap(),
            serde_json::json!(["a", 1, -2, 1.5, true, null, {"k": [1]}])
        );
        // Maps with non-string keys and binary data stay refused.
        assert!(read(&hex("81 01 02")).is_err());
        assert!(read(&hex("C4 01 00")).is_err());
    }

    #[test]
    fn timestamps_of_every_width_read_as_rfc3339() {
        // 32 bits: 2026-12-07T09:00:00Z.
        let at = OffsetDateTime::from_unix_timestamp(1_796_634_000).unwrap();
        let mut t32 = hex("D6 FF");
        t32.extend_from_slice(&1_796_634_000u32.to_be_bytes());
        assert_eq!(read(&t32).unwrap(), at.format(&Rfc3339).unwrap());
        // 64 bits, with 500 ms.
        let mut t64 = hex("D7 FF");
        t64.extend_from_slice(&((500_000_000u64 << 34) | 1_796_634_000).to_be_bytes());
        assert_eq!(read(&t64).unwrap(), "2026-12-07T09:00:00.5Z");
        // 96 bits, before 1970.
        let mut t96 = hex("C7 0C FF");
        t96.extend_from_slice(&0u32.to_be_bytes());
        t96.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(read(&t96).unwrap(), "1969-12-31T23:59:59Z");
        // Inside an array, as an argument.
        let mut args = hex("91");
        args.extend_from_slice(&t32);
        assert_eq!(read(&args).unwrap()[0], at.format(&Rfc3339).unwrap());
    }

    #[test]
    fn other_extensions_and_bad_timestamps_are_refused() {
        assert!(read(&hex("D6 05 00 00 00 01")).is_err(), "type 5");
        assert!(
            read(&hex("D5 FF 00 01")).is_err(),
            "16 bits is no timestamp width"
        );
        let mut bad_nanos = hex("C7 0C FF");
        bad_nanos.extend_from_slice(&1_000_000_000u32.to_be_bytes());
        bad_nanos.extend_from_slice(&0i64.to_be_bytes());
        assert!(read(&bad_nanos).is_err());
    }
}
