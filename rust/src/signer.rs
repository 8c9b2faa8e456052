//! A secp256k1 signer built from one private key: the key never leaves it, never prints, and is erased on drop.
//!
//! The curve is libsecp256k1 (through the `secp256k1` crate): RFC 6979 nonces and low-s signatures, so a
//! signature here is byte-for-byte the one eth-account (eth-keys) makes from the same key and digest.

use std::fmt;

use alloy_primitives::{keccak256, Address, Signature, B256, U256};
use secp256k1::ecdsa::RecoverableSignature;
use secp256k1::ffi::CPtr;
use secp256k1::{Message, PublicKey, Secp256k1, SecretKey, SignOnly};
use zeroize::Zeroizing;

use crate::error::{CoreError, CoreResult};

/// Length of a signature as Ethereum tooling serialises it: `r ‖ s ‖ v`.
pub const SIGNATURE_LEN: usize = 65;

/// Signs digests with one private key. `Debug` shows the address only; there is no `Display`, no `Clone`.
pub struct Signer {
    secret: SecretKey,
    address: Address,
    /// This signer's own libsecp256k1 context, blinded once at construction. The crate's global-context
    /// signing re-blinds before every signature, which costs as much as a second signature; blinding once
    /// per context is what libsecp256k1 itself recommends.
    context: Secp256k1<SignOnly>,
}

impl Signer {
    /// A signer from the 32 big-endian bytes of a private key.
    pub fn from_bytes(bytes: &[u8; 32]) -> CoreResult<Self> {
        // The message never echoes the bytes: they are the secret.
        let secret = SecretKey::from_secret_bytes(*bytes).map_err(|_| {
            CoreError::InvalidInput(
                "private key is not a valid secp256k1 scalar (zero or ≥ the curve order)".into(),
            )
        })?;
        Ok(Self::from_secret_key(secret))
    }

    /// A signer from `0x` + 64 hex digits (the prefix is optional; surrounding whitespace is ignored).
    pub fn from_hex(text: &str) -> CoreResult<Self> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
        if digits.len() != 64 {
            return Err(CoreError::InvalidInput(format!(
                "private key must be 32 bytes (64 hex digits), got {} characters",
                digits.len()
            )));
        }
        let mut key = Zeroizing::new([0u8; 32]);
        alloy_primitives::hex::decode_to_slice(digits, key.as_mut_slice())
            .map_err(|_| CoreError::InvalidInput("private key is not valid hex".into()))?;
        Self::from_bytes(&key)
    }

    /// Wraps a key that is already a valid scalar (the fleet derives these).
    pub(crate) fn from_secret_key(secret: SecretKey) -> Self {
        let address = address_of(&PublicKey::from_secret_key(&secret));
        let mut context = Secp256k1::signing_only();
        // libsecp256k1 documents that secret data may seed the blinding; hashing keeps the key itself out.
        let mut seed = Zeroizing::new([0u8; 64]);
        seed[..32].copy_from_slice(&secret.to_secret_bytes());
        seed[32..].copy_from_slice(&keccak256(b"polyhunter signer context blinding").0);
        context.seeded_randomize(&keccak256(seed.as_slice()).0);
        Self { secret, address, context }
    }

    /// The Ethereum address of this key.
    #[inline]
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a 32-byte digest (RFC 6979, low s).
    #[inline]
    pub fn sign_hash(&self, digest: &B256) -> Signature {
        let message = Message::from_digest(digest.0);
        let mut raw = secp256k1::ffi::recovery::RecoverableSignature::new();
        // SAFETY: the context is a live signing context that nothing mutates after construction (libsecp256k1
        // allows concurrent use of such a context); message and key point at 32 valid bytes each; RFC 6979
        // takes no extra nonce data. Signing a valid key never fails, as the crate's own wrapper asserts.
        let ok = unsafe {
            secp256k1::ffi::recovery::secp256k1_ecdsa_sign_recoverable(
                self.context.ctx().as_ptr(),
                &mut raw,
                message.as_c_ptr(),
                self.secret.as_c_ptr(),
                secp256k1::ffi::secp256k1_nonce_function_rfc6979,
                std::ptr::null(),
            )
        };
        assert_eq!(ok, 1, "libsecp256k1 refused to sign with a valid key");
        let (rec_id, compact) = RecoverableSignature::from(raw).serialize_compact();
        let r = U256::from_be_slice(&compact[..32]);
        let s = U256::from_be_slice(&compact[32..]);
        // Ids 2 and 3 (r ≥ n) never occur in practice; Ethereum keeps only the parity bit.
        Signature::new(r, s, rec_id.to_u8() & 1 == 1)
    }

    /// Signs a digest and returns `r ‖ s ‖ v` with v = 27 or 28, the form Polymarket and eth-account use.
    #[inline]
    pub fn sign_hash_rsv(&self, digest: &B256) -> [u8; SIGNATURE_LEN] {
        rsv_bytes(&self.sign_hash(digest))
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Drop for Signer {
    fn drop(&mut self) {
        // Overwrites the key in place with volatile writes. `SecretKey` is `Copy`, so a copy the compiler
        // spilled to the stack while signing may survive; this erases the one that lives as long as we do.
        self.secret.non_secure_erase();
    }
}

/// `r ‖ s ‖ v` with v = 27 + y-parity.
#[inline]
pub fn rsv_bytes(sig: &Signature) -> [u8; SIGNATURE_LEN] {
    let mut out = [0u8; SIGNATURE_LEN];
    out[..32].copy_from_slice(&sig.r().to_be_bytes::<32>());
    out[32..64].copy_from_slice(&sig.s().to_be_bytes::<32>());
    out[64] = 27 + u8::from(sig.v());
    out
}

/// The address of a public key: the last 20 bytes of keccak256 of its uncompressed coordinates.
fn address_of(public: &PublicKey) -> Address {
    let uncompressed = public.serialize_uncompressed();
    Address::from_slice(&keccak256(&uncompressed[1..])[12..])
}

/// Recovers the address that signed `digest` with an `r ‖ s ‖ v` signature (v = 27/28 or 0/1).
pub fn recover_address(digest: &B256, rsv: &[u8]) -> CoreResult<Address> {
    let rsv: &[u8; SIGNATURE_LEN] = rsv.try_into().map_err(|_| {
        CoreError::InvalidInput(format!("signature must be {SIGNATURE_LEN} bytes, got {}", rsv.len()))
    })?;
    let parity = match rsv[64] {
        0 | 27 => 0,
        1 | 28 => 1,
        v => return Err(CoreError::InvalidInput(format!("signature v must be 0, 1, 27 or 28, got {v}"))),
    };
    let rec_id = secp256k1::ecdsa::RecoveryId::try_from(parity)
        .map_err(|_| CoreError::InvalidInput("bad recovery id".into()))?;
    let compact: &[u8; 64] = rsv[..64].try_into().expect("64 of 65 bytes");
    let sig = RecoverableSignature::from_compact(compact, rec_id)
        .map_err(|_| CoreError::InvalidInput("signature r or s is out of range".into()))?;
    let public = sig
        .recover_ecdsa(Message::from_digest(digest.0))
        .map_err(|_| CoreError::InvalidInput("no public key recovers from this signature".into()))?;
    Ok(address_of(&public))
}

/// Parses an address given as `0x` + 40 hex digits, any case (checksums are not enforced).
pub fn parse_address(text: &str) -> CoreResult<Address> {
    let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).ok_or_else(|| {
        CoreError::InvalidInput(format!("address must start with 0x: {:?}", crate::hash::truncate(text)))
    })?;
    if digits.len() != 40 {
        return Err(CoreError::InvalidInput(format!(
            "address must have 40 hex digits, got {}: {:?}",
            digits.len(),
            crate::hash::truncate(text)
        )));
    }
    let mut out = [0u8; 20];
    alloy_primitives::hex::decode_to_slice(digits, &mut out).map_err(|_| {
        CoreError::InvalidInput(format!("address is not hex: {:?}", crate::hash::truncate(text)))
    })?;
    Ok(Address::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    /// anvil / hardhat dev accounts: keys and addresses published with those tools.
    #[rstest]
    #[case(
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    )]
    #[case(
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    )]
    fn address_of_known_keys(#[case] key: &str, #[case] address: &str) {
        let signer = Signer::from_hex(key).unwrap();
        assert_eq!(signer.address(), address.parse::<Address>().unwrap());
        assert_eq!(signer.address().to_checksum(None), address);
    }

    #[test]
    fn sign_hash_known_answer_from_eth_account() {
        // eth-account 0.14: Account._sign_hash(keccak(b"polyhunter"), anvil key 0).signature
        let signer =
            Signer::from_hex("ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80").unwrap();
        let digest = keccak256(b"polyhunter");
        let sig = signer.sign_hash_rsv(&digest);
        assert_eq!(hex::encode(sig), KNOWN_SIG);
        assert_eq!(recover_address(&digest, &sig).unwrap(), signer.address());
    }
    const KNOWN_SIG: &str = "7a9d34179603bde940b765b6e3f1dba3329feadb352ac8f08be9692a8b5588e5733c518bd9fe6deb3333cfe0c8d0c540f24139c10e5774f33bf36824dc7bf6091b";

    #[rstest]
    #[case("", "64 hex")]
    #[case("0x1234", "64 hex")]
    #[case(&"zz".repeat(32), "not valid hex")]
    #[case(&"00".repeat(32), "valid secp256k1 scalar")]
    #[case("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", "valid secp256k1 scalar")]
    fn bad_keys_are_rejected_without_echo(#[case] key: &str, #[case] reason: &str) {
        let err = Signer::from_hex(key).unwrap_err().to_string();
        assert!(err.contains(reason), "{err}");
        if key.len() > 8 {
            assert!(!err.contains(key), "{err}");
        }
    }

    #[test]
    fn debug_shows_address_only() {
        let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
        let shown = format!("{:?}", Signer::from_hex(key).unwrap());
        assert!(shown.to_lowercase().contains("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"), "{shown}");
        assert!(!shown.to_lowercase().contains(&key[..16]), "{shown}");
    }

    #[test]
    fn addresses_parse_in_any_case_and_reject_junk() {
        let a = parse_address("0xF39FD6E51AAD88F6F4CE6AB8827279CFFFB92266").unwrap();
        assert_eq!(a, parse_address("0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266").unwrap());
        assert!(parse_address("f39fd6e51aad88f6f4ce6ab8827279cfffb92266").is_err());
        assert!(parse_address("0x1234").is_err());
        assert!(parse_address(&format!("0x{}", "g".repeat(40))).is_err());
    }

    proptest! {
        #[test]
        fn signatures_recover_to_the_signer(key in any::<[u8; 32]>(), digest in any::<[u8; 32]>()) {
            if let Ok(signer) = Signer::from_bytes(&key) {
                let digest = B256::from(digest);
                let sig = signer.sign_hash_rsv(&digest);
                prop_assert!(sig[64] == 27 || sig[64] == 28);
                // low s: s ≤ n/2
                prop_assert!(sig[32] < 0x80);
                prop_assert_eq!(recover_address(&digest, &sig).unwrap(), signer.address());
            }
        }
    }
}
