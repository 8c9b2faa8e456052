//! JSON-RPC framing of pending transactions: finds the transactions in whatever a node sent and parses the
//! fields a match needs (hash, sender, recipient, nonce, input).
//!
//! Accepted: one transaction object; an `eth_subscription` notification whose result is a transaction or only
//! its hash (`newPendingTransactions` without full objects); a JSON array of those; a JSON-RPC response
//! whose result is a transaction, `null` (unknown hash), an array, or `txpool_content`'s
//! `{pending: {sender: {nonce: tx}}, queued: …}`; and a batch of such responses.

use alloy_primitives::{hex, Address, B256};
use serde_json::{Map, Value};

use crate::hash::truncate;

/// A transaction with the fields a match needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tx {
    pub hash: B256,
    pub from: Address,
    /// `None` for a contract creation.
    pub to: Option<Address>,
    pub nonce: Option<u64>,
    pub input: Vec<u8>,
}

/// One entry of the input, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Tx(Tx),
    /// Only the hash was sent: the caller fetches the transaction.
    Hash(B256),
    /// A transaction object whose fields do not parse.
    Bad(String),
}

/// Every transaction (or hash) in `raw`; an input that is none of the accepted shapes is an error.
pub fn transactions(raw: &[u8]) -> Result<Vec<Entry>, String> {
    let value: Value = serde_json::from_slice(raw).map_err(|e| format!("malformed JSON: {e}"))?;
    let mut out = Vec::new();
    collect(&value, &mut out, 0)?;
    Ok(out)
}

fn collect(value: &Value, out: &mut Vec<Entry>, depth: u8) -> Result<(), String> {
    // Shapes nest at most: batch → response → txpool → sender → nonce → tx.
    if depth > 6 {
        return Err("JSON nests deeper than any transaction shape".into());
    }
    match value {
        Value::Null => Ok(()),
        Value::String(text) => {
            out.push(Entry::Hash(word(text, "transaction hash")?));
            Ok(())
        }
        Value::Array(items) => items.iter().try_for_each(|item| collect(item, out, depth + 1)),
        Value::Object(obj) => {
            if obj.contains_key("input") || obj.contains_key("from") {
                out.push(tx(obj).map_or_else(Entry::Bad, Entry::Tx));
                return Ok(());
            }
            if let Some(error) = obj.get("error") {
                return Err(format!("JSON-RPC error response: {}", truncate(&error.to_string())));
            }
            if let Some(result) = obj.get("params").and_then(|p| p.get("result")) {
                return collect(result, out, depth + 1);
            }
            if let Some(result) = obj.get("result") {
                return collect(result, out, depth + 1);
            }
            if obj.contains_key("pending") || obj.contains_key("queued") {
                // txpool_content: {pending: {sender: {nonce: tx}}, queued: {...}}
                for key in ["pending", "queued"] {
                    if let Some(Value::Object(senders)) = obj.get(key) {
                        for by_nonce in senders.values() {
                            match by_nonce {
                                Value::Object(txs) => {
                                    txs.values().try_for_each(|t| collect(t, out, depth + 3))?
                                }
                                other => return Err(format!("txpool {key} entry is not an object: {other}")),
                            }
                        }
                    }
                }
                return Ok(());
            }
            Err(format!(
                "JSON object is neither a transaction, a notification, a JSON-RPC response nor txpool content: {}",
                truncate(&value.to_string())
            ))
        }
        other => Err(format!(
            "unexpected JSON value where a transaction belongs: {}",
            truncate(&other.to_string())
        )),
    }
}

fn field<'a>(obj: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => {
            Err(format!("transaction {name} must be a hex string, got {}", truncate(&other.to_string())))
        }
    }
}

fn tx(obj: &Map<String, Value>) -> Result<Tx, String> {
    let required = |name: &str| field(obj, name)?.ok_or_else(|| format!("transaction has no {name}"));
    let input = match field(obj, "input")? {
        Some(input) => input,
        None => required("data")?,
    };
    Ok(Tx {
        hash: word(required("hash")?, "hash")?,
        from: Address::from(fixed::<20>(required("from")?, "from")?),
        to: field(obj, "to")?.map(|to| fixed::<20>(to, "to").map(Address::from)).transpose()?,
        nonce: field(obj, "nonce")?.map(|n| quantity(n, "nonce")).transpose()?,
        input: bytes(input, "input")?,
    })
}

fn digits<'t>(text: &'t str, name: &str) -> Result<&'t str, String> {
    text.strip_prefix("0x").ok_or_else(|| format!("{name} must start with 0x: {:?}", truncate(text)))
}

fn fixed<const N: usize>(text: &str, name: &str) -> Result<[u8; N], String> {
    let d = digits(text, name)?;
    if d.len() != 2 * N {
        return Err(format!("{name} must have {} hex digits, got {}: {:?}", 2 * N, d.len(), truncate(text)));
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(d, &mut out).map_err(|_| format!("{name} is not hex: {:?}", truncate(text)))?;
    Ok(out)
}

fn word(text: &str, name: &str) -> Result<B256, String> {
    fixed::<32>(text, name).map(B256::from)
}

fn bytes(text: &str, name: &str) -> Result<Vec<u8>, String> {
    hex::decode(digits(text, name)?).map_err(|e| format!("{name} is not hex ({e}): {:?}", truncate(text)))
}

fn quantity(text: &str, name: &str) -> Result<u64, String> {
    let d = digits(text, name)?;
    if d.is_empty() || d.len() > 16 {
        return Err(format!("{name} must be a 64-bit hex quantity: {:?}", truncate(text)));
    }
    u64::from_str_radix(d, 16).map_err(|_| format!("{name} is not hex: {:?}", truncate(text)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0x00000000000000000000000000000000000000000000000000000000000000aa";
    const FROM: &str = "0x1111111111111111111111111111111111111111";
    const TO: &str = "0x2222222222222222222222222222222222222222";

    fn tx_json(input: &str) -> String {
        format!(r#"{{"hash":"{HASH}","from":"{FROM}","to":"{TO}","nonce":"0x7","input":"{input}"}}"#)
    }

    fn one_tx(text: &str) -> Tx {
        match transactions(text.as_bytes()).unwrap().as_slice() {
            [Entry::Tx(tx)] => tx.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_shape_yields_the_same_transaction() {
        let bare = one_tx(&tx_json("0x3c2b4399"));
        assert_eq!(bare.nonce, Some(7));
        assert_eq!(bare.input, vec![0x3c, 0x2b, 0x43, 0x99]);
        let t = tx_json("0x3c2b4399");
        for text in [
            format!(
                r#"{{"jsonrpc":"2.0","method":"eth_subscription","params":{{"subscription":"0x1","result":{t}}}}}"#
            ),
            format!(r#"{{"jsonrpc":"2.0","id":1,"result":{t}}}"#),
            format!(r#"[{{"jsonrpc":"2.0","id":1,"result":{t}}},{{"jsonrpc":"2.0","id":2,"result":null}}]"#),
            format!(
                r#"{{"jsonrpc":"2.0","id":1,"result":{{"pending":{{"{FROM}":{{"7":{t}}}}},"queued":{{}}}}}}"#
            ),
        ] {
            assert_eq!(one_tx(&text), bare, "{text}");
        }
    }

    #[test]
    fn hashes_and_bad_transactions_are_entries_and_bad_framing_is_an_error() {
        let note = format!(r#"{{"method":"eth_subscription","params":{{"result":"{HASH}"}}}}"#);
        assert_eq!(transactions(note.as_bytes()).unwrap(), vec![Entry::Hash(B256::with_last_byte(0xaa))]);
        let bad = tx_json("0xzz");
        assert!(
            matches!(transactions(bad.as_bytes()).unwrap().as_slice(), [Entry::Bad(r)] if r.contains("input"))
        );
        for (text, reason) in [
            ("", "malformed JSON"),
            ("{}", "neither a transaction"),
            (r#"{"error":{"code":1}}"#, "JSON-RPC error"),
            ("42", "unexpected JSON"),
        ] {
            let err = transactions(text.as_bytes()).unwrap_err();
            assert!(err.contains(reason), "{text}: {err}");
        }
    }
}
