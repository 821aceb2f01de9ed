//! Where a client says it stopped: the hub URL's `resume=` list and the `Resume` hub method's
//! argument, parsed into one position per stream. Parsing only, so the endpoints, the hub
//! methods and the fuzz targets can use it without the replay machinery.

use serde_json::Value;

use crate::error::GatewayError;
use crate::protocol::Position;

/// The positions of the hub URL's `resume` parameter: `ORDERS:12,INVENTORY:3`.
pub fn parse_position_list(raw: &str) -> Result<Vec<Position>, GatewayError> {
    merge(raw.split(',').map(|p| p.trim().parse()))
}

/// `Resume` takes one argument: a position string or an array of them (one per stream).
pub fn parse_positions(arguments: &[Value]) -> Result<Vec<Position>, GatewayError> {
    let [argument] = arguments else {
        return Err(GatewayError::BadPosition);
    };
    let values: Vec<&Value> = match argument {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    merge(
        values
            .into_iter()
            .map(|v| v.as_str().ok_or(GatewayError::BadPosition)?.parse()),
    )
}

/// One position per stream; when a client sends several, the latest wins.
fn merge(
    parsed: impl Iterator<Item = Result<Position, GatewayError>>,
) -> Result<Vec<Position>, GatewayError> {
    let mut positions: Vec<Position> = Vec::new();
    for p in parsed {
        let p = p?;
        match positions.iter_mut().find(|q| q.stream == p.stream) {
            Some(q) => q.sequence = q.sequence.max(p.sequence),
            None => positions.push(p),
        }
    }
    if positions.is_empty() {
        return Err(GatewayError::BadPosition);
    }
    Ok(positions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::StreamName;
    use serde_json::json;

    #[test]
    fn accepts_a_string_or_an_array() {
        assert_eq!(parse_positions(&[json!("ORDERS:5")]).unwrap().len(), 1);
        let both = parse_positions(&[json!(["ORDERS:5", "INVENTORY:2", "ORDERS:7"])]).unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[0].sequence, 7);
        for bad in [json!([]), json!(5), json!(["ORDERS:x"]), json!(null)] {
            assert!(
                parse_positions(std::slice::from_ref(&bad)).is_err(),
                "{bad}"
            );
        }
        assert!(parse_positions(&[]).is_err());
        assert!(parse_positions(&[json!("ORDERS:1"), json!("ORDERS:2")]).is_err());
    }

    #[test]
    fn parses_the_url_list() {
        let both = parse_position_list("ORDERS:12, INVENTORY:3").unwrap();
        assert_eq!(both.len(), 2);
        assert_eq!(both[1].stream, StreamName::Inventory);
        for bad in ["", "ORDERS", "ORDERS:1,,", "ORDERS:-1", "FOO:1"] {
            assert!(parse_position_list(bad).is_err(), "{bad}");
        }
    }
}
