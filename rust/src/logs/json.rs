//! JSON-RPC framing: finds the log(s) in a notification, an `eth_getLogs` response or a bare log, and
//! parses one log's hex fields into binary. Strings are borrowed from the input where they have no escapes.

use std::borrow::Cow;

use alloy_primitives::{hex, Address, B256};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::hash::truncate;

/// What the input bytes hold.
pub enum Payload<'a> {
    /// One log: a bare log object or an `eth_subscription` notification. Errors raise.
    Single(&'a RawValue),
    /// A list of logs: a bare array or an `eth_getLogs` response. Errors become per-log rejects.
    Batch(Vec<&'a RawValue>),
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    params: Option<Params<'a>>,
    #[serde(borrow)]
    result: Option<&'a RawValue>,
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    topics: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    result: Option<&'a RawValue>,
}

fn json_err(what: &str, e: &serde_json::Error) -> String {
    format!("malformed {what}: {e}")
}

/// Classifies the input and returns the raw log object(s) inside it.
pub fn payload(raw: &[u8]) -> Result<Payload<'_>, String> {
    let text = std::str::from_utf8(raw).map_err(|e| format!("input is not UTF-8: {e}"))?;
    match text.trim_start().as_bytes().first() {
        Some(b'[') => batch(text),
        Some(b'{') => {
            let env: Envelope<'_> = serde_json::from_str(text).map_err(|e| json_err("input", &e))?;
            if env.topics.is_some() {
                return serde_json::from_str(text).map(Payload::Single).map_err(|e| json_err("log", &e));
            }
            if let Some(log) = env.params.and_then(|p| p.result) {
                return Ok(Payload::Single(log));
            }
            if let Some(error) = env.error {
                return Err(format!("JSON-RPC error response: {}", truncate(error.get())));
            }
            match env.result {
                Some(result) => batch(result.get()),
                None => Err("JSON object is neither a log, an eth_subscription notification nor a JSON-RPC \
                             response with a result"
                    .into()),
            }
        }
        Some(_) => Err(format!("input is not a JSON object or array: {:?}", truncate(text))),
        None => Err("input is empty".into()),
    }
}

fn batch(text: &str) -> Result<Payload<'_>, String> {
    if !text.trim_start().starts_with('[') {
        return Err(format!("result is not a list of logs: {:?}", truncate(text)));
    }
    serde_json::from_str(text).map(Payload::Batch).map_err(|e| json_err("list of logs", &e))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog<'a> {
    #[serde(borrow)]
    address: Cow<'a, str>,
    #[serde(borrow)]
    topics: Vec<Cow<'a, str>>,
    #[serde(borrow)]
    data: Cow<'a, str>,
    #[serde(borrow, default)]
    block_number: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    block_hash: Option<Cow<'a, str>>,
    #[serde(borrow)]
    transaction_hash: Option<Cow<'a, str>>,
    #[serde(borrow)]
    log_index: Option<Cow<'a, str>>,
    #[serde(default)]
    removed: Option<bool>,
}

/// The most topics an EVM log can carry (LOG4).
pub const MAX_TOPICS: usize = 4;

/// One log with its hex fields parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Vec<u8>,
    pub block_number: Option<u64>,
    pub block_hash: Option<B256>,
    pub tx_hash: B256,
    pub log_index: u64,
    pub removed: bool,
}

/// Parses one log object.
pub fn log_record(raw: &RawValue) -> Result<LogRecord, String> {
    let log: RawLog<'_> = serde_json::from_str(raw.get()).map_err(|e| json_err("log", &e))?;
    if log.topics.len() > MAX_TOPICS {
        return Err(format!("log has {} topics, at most {MAX_TOPICS} exist", log.topics.len()));
    }
    let topics = log
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| word(t, &format!("topics[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let tx_hash = log.transaction_hash.as_deref().ok_or("log has no transactionHash (pending log?)")?;
    let log_index = log.log_index.as_deref().ok_or("log has no logIndex (pending log?)")?;
    Ok(LogRecord {
        address: Address::from(fixed::<20>(&log.address, "address")?),
        topics,
        data: bytes(&log.data, "data")?,
        block_number: log.block_number.as_deref().map(|q| quantity(q, "blockNumber")).transpose()?,
        block_hash: log.block_hash.as_deref().map(|h| word(h, "blockHash")).transpose()?,
        tx_hash: word(tx_hash, "transactionHash")?,
        log_index: quantity(log_index, "logIndex")?,
        removed: log.removed.unwrap_or(false),
    })
}

fn digits<'t>(text: &'t str, field: &str) -> Result<&'t str, String> {
    text.strip_prefix("0x").ok_or_else(|| format!("{field} must start with 0x: {:?}", truncate(text)))
}

/// `0x` + exactly `2 * N` hex digits.
fn fixed<const N: usize>(text: &str, field: &str) -> Result<[u8; N], String> {
    let d = digits(text, field)?;
    if d.len() != 2 * N {
        return Err(format!("{field} must have {} hex digits, got {}: {:?}", 2 * N, d.len(), truncate(text)));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(d, &mut out).map_err(|_| format!("{field} is not hex: {:?}", truncate(text)))?;
    Ok(out)
}

fn word(text: &str, field: &str) -> Result<B256, String> {
    fixed::<32>(text, field).map(B256::from)
}

fn bytes(text: &str, field: &str) -> Result<Vec<u8>, String> {
    let d = digits(text, field)?;
    hex::decode(d).map_err(|e| format!("{field} is not hex ({e}): {:?}", truncate(text)))
}

/// A JSON-RPC quantity: `0x` + 1 to 16 hex digits.
fn quantity(text: &str, field: &str) -> Result<u64, String> {
    let d = digits(text, field)?;
    if d.is_empty() || d.len() > 16 {
        return Err(format!("{field} must be a 64-bit hex quantity: {:?}", truncate(text)));
    }
    u64::from_str_radix(d, 16).map_err(|_| format!("{field} is not hex: {:?}", truncate(text)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const LOG: &str = r#"{"address":"0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E","topics":["0x0000000000000000000000000000000000000000000000000000000000000001"],"data":"0x","blockNumber":"0x10","blockHash":"0x0000000000000000000000000000000000000000000000000000000000000002","transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000003","logIndex":"0x0","removed":false}"#;

    fn single(text: &str) -> LogRecord {
        match payload(text.as_bytes()).unwrap() {
            Payload::Single(raw) => log_record(raw).unwrap(),
            Payload::Batch(_) => panic!("expected one log"),
        }
    }

    #[test]
    fn bare_log_and_notification_are_single() {
        let bare = single(LOG);
        let note = format!(
            r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0x9","result":{LOG}}}}}"#
        );
        assert_eq!(single(&note), bare);
        assert_eq!(bare.block_number, Some(16));
        assert_eq!(bare.log_index, 0);
        assert_eq!(bare.tx_hash, B256::with_last_byte(3));
        assert!(!bare.removed);
    }

    #[rstest]
    #[case(format!("[{LOG},{LOG}]"))]
    #[case(format!(r#"{{"jsonrpc":"2.0","id":7,"result":[{LOG},{LOG}]}}"#))]
    fn arrays_and_responses_are_batches(#[case] text: String) {
        assert!(matches!(payload(text.as_bytes()), Ok(Payload::Batch(v)) if v.len() == 2));
    }

    #[rstest]
    #[case("", "empty")]
    #[case("42", "not a JSON object or array")]
    #[case(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"boom"}}"#, "JSON-RPC error")]
    #[case(r#"{"jsonrpc":"2.0","id":1,"result":"0xabc"}"#, "not a list of logs")]
    #[case(r#"{"jsonrpc":"2.0","id":1}"#, "neither a log")]
    #[case("{\"topics\":", "malformed input")]
    fn bad_framing_says_why(#[case] text: &str, #[case] reason: &str) {
        let err = payload(text.as_bytes()).err().unwrap();
        assert!(err.contains(reason), "{err}");
    }

    #[rstest]
    #[case(
        r#""address":"0x4bFb41d5B3570DeFd03C39a9A4D8dE6Bd8B8982E""#,
        r#""address":"0x4bFb""#,
        "40 hex digits"
    )]
    #[case(r#""logIndex":"0x0""#, r#""logIndex":"0x""#, "64-bit hex quantity")]
    #[case(r#""logIndex":"0x0""#, r#""logIndex":null"#, "no logIndex")]
    #[case(r#""data":"0x""#, r#""data":"0xabc""#, "data is not hex")]
    #[case(r#""blockNumber":"0x10""#, r#""blockNumber":"16""#, "start with 0x")]
    fn bad_fields_say_why(#[case] from: &str, #[case] to: &str, #[case] reason: &str) {
        let text = LOG.replace(from, to);
        let Payload::Single(raw) = payload(text.as_bytes()).unwrap() else { panic!() };
        let err = log_record(raw).unwrap_err();
        assert!(err.contains(reason), "{err}");
    }

    #[test]
    fn escaped_strings_still_parse() {
        let text = LOG.replace("0x10", "\\u0030x10");
        let Payload::Single(raw) = payload(text.as_bytes()).unwrap() else { panic!() };
        assert_eq!(log_record(raw).unwrap().block_number, Some(16));
    }
}
