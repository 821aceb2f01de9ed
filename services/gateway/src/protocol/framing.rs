//! Record-separator framing: every JSON hub message is terminated by 0x1E and one WebSocket text
//! message may carry several of them. The official clients always send complete records, so a
//! frame that does not end on a separator is a protocol violation and is refused rather than
//! buffered (buffering would let a client make the server hold arbitrary partial data).

use crate::error::GatewayError;

/// The ASCII record separator that terminates every JSON hub message.
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// Splits one WebSocket text message into its records (without the separators).
///
/// Fails when the message is empty or does not end exactly on a separator. Empty records
/// (two separators in a row) are refused too: no client produces them.
pub fn split_records(frame: &str) -> Result<Vec<&str>, GatewayError> {
    let Some(body) = frame.strip_suffix(RECORD_SEPARATOR) else {
        return Err(GatewayError::IncompleteRecord);
    };
    let records: Vec<&str> = body.split(RECORD_SEPARATOR).collect();
    if records.iter().any(|r| r.trim().is_empty()) {
        return Err(GatewayError::EmptyRecord);
    }
    Ok(records)
}

/// Appends the separator to an already serialized JSON record.
pub fn terminate(mut json: String) -> String {
    json.push(RECORD_SEPARATOR);
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_several_records_in_one_frame() {
        let frame = "{\"type\":6}\u{1e}{\"type\":8,\"sequenceId\":3}\u{1e}";
        assert_eq!(
            split_records(frame).unwrap(),
            vec!["{\"type\":6}", "{\"type\":8,\"sequenceId\":3}"]
        );
    }

    #[test]
    fn single_record() {
        assert_eq!(split_records("{}\u{1e}").unwrap(), vec!["{}"]);
    }

    #[test]
    fn refuses_partial_trailing_record() {
        assert!(matches!(
            split_records("{\"type\":6}\u{1e}{\"type\""),
            Err(GatewayError::IncompleteRecord)
        ));
        assert!(matches!(
            split_records("{\"type\":6}"),
            Err(GatewayError::IncompleteRecord)
        ));
        assert!(matches!(
            split_records(""),
            Err(GatewayError::IncompleteRecord)
        ));
    }

    #[test]
    fn refuses_empty_records() {
        assert!(matches!(
            split_records("\u{1e}"),
            Err(GatewayError::EmptyRecord)
        ));
        assert!(matches!(
            split_records("{\"type\":6}\u{1e}\u{1e}"),
            Err(GatewayError::EmptyRecord)
        ));
    }

    #[test]
    fn serializer_escapes_separator_inside_strings() {
        let json = serde_json::to_string(&"a\u{1e}b").unwrap();
        assert!(!json.contains(RECORD_SEPARATOR), "{json}");
        assert_eq!(json, "\"a\\u001eb\"");
    }
}
