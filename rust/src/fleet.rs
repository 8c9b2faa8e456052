//! The fleet: operator signers derived from one BIP-39 mnemonic at m/44'/60'/0'/0/i (BIP-32, BIP-44 Ethereum).
//!
//! The seed (PBKDF2, 2048 rounds) and the account-level key are computed once; each signer is then one
//! non-hardened child step, so deriving 100 wallets costs one seed plus 100 small derivations.

use bip32::{ChildNumber, DerivationPath, ExtendedPrivateKey};
use secp256k1::SecretKey;
use zeroize::Zeroizing;

use crate::error::{CoreError, CoreResult};
use crate::signer::Signer;

/// The BIP-44 path of Ethereum's first account's external chain; signer i is its child i.
pub const ACCOUNT_PATH: &str = "m/44'/60'/0'/0";

/// Largest non-hardened child index plus one.
const INDEX_LIMIT: u64 = 1 << 31;

/// Derives `count` signers at m/44'/60'/0'/0/`start` … `start + count - 1` from an English BIP-39 mnemonic.
///
/// The mnemonic and passphrase are NFKD-normalised as BIP-39 says; errors never contain either.
pub fn derive_signers(mnemonic: &str, passphrase: &str, start: u32, count: u32) -> CoreResult<Vec<Signer>> {
    if u64::from(start) + u64::from(count) > INDEX_LIMIT {
        return Err(CoreError::InvalidInput(format!(
            "fleet indices must stay below 2**31, got start {start} + count {count}"
        )));
    }
    let account = account_key(mnemonic, passphrase)?;
    (start..start + count)
        .map(|index| {
            let child = ChildNumber::new(index, false)
                .and_then(|number| account.derive_child(number))
                .map_err(|_| CoreError::InvalidInput(format!("cannot derive fleet index {index}")))?;
            Ok(Signer::from_secret_key(*child.private_key()))
        })
        .collect()
}

fn account_key(mnemonic: &str, passphrase: &str) -> CoreResult<ExtendedPrivateKey<SecretKey>> {
    let words = bip39::Mnemonic::parse_in(bip39::Language::English, mnemonic).map_err(|err| {
        // bip39's messages name counts and positions, never words; we still write our own.
        let reason = match err {
            bip39::Error::BadWordCount(n) => format!("has {n} words; BIP-39 needs 12, 15, 18, 21 or 24"),
            bip39::Error::UnknownWord(i) => {
                format!("has a word at position {i} that is not in the English list")
            }
            bip39::Error::InvalidChecksum => "fails its checksum".to_owned(),
            _ => "is not a valid BIP-39 phrase".to_owned(),
        };
        CoreError::InvalidInput(format!("mnemonic {reason}"))
    })?;
    let seed = Zeroizing::new(words.to_seed(passphrase));
    let path: DerivationPath = ACCOUNT_PATH.parse().expect("constant path");
    ExtendedPrivateKey::<SecretKey>::derive_from_path(seed.as_slice(), &path)
        .map_err(|_| CoreError::InvalidInput("mnemonic seed gives no valid account key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{address, Address};
    use rstest::rstest;

    const TEST_MNEMONIC: &str = "test test test test test test test test test test test junk";

    /// anvil's and hardhat's published dev accounts for the test mnemonic.
    #[test]
    fn test_mnemonic_gives_anvils_accounts() {
        let fleet = derive_signers(TEST_MNEMONIC, "", 0, 3).unwrap();
        let addresses: Vec<Address> = fleet.iter().map(Signer::address).collect();
        assert_eq!(
            addresses,
            [
                address!("f39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
                address!("70997970C51812dc3A010C7d01b50e0d17dc79C8"),
                address!("3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            ]
        );
        // start offsets address the same children
        let tail = derive_signers(TEST_MNEMONIC, "", 2, 1).unwrap();
        assert_eq!(tail[0].address(), addresses[2]);
    }

    /// The first BIP-39 reference phrase (Trezor's vectors use passphrase "TREZOR") through m/44'/60'/0'/0/0;
    /// addresses as eth-account 0.14 `Account.from_mnemonic` gives them.
    #[test]
    fn passphrase_changes_the_fleet() {
        let phrase =
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
        let plain = derive_signers(phrase, "", 0, 1).unwrap();
        assert_eq!(plain[0].address(), address!("9858EfFD232B4033E47d90003D41EC34EcaEda94"));
        let with_pass = derive_signers(phrase, "TREZOR", 0, 1).unwrap();
        assert_eq!(with_pass[0].address(), address!("9c32F71D4DB8Fb9e1A58B0a80dF79935e7256FA6"));
    }

    #[rstest]
    #[case("test test test", "12, 15, 18")]
    #[case("test test test test test test test test test test test test", "checksum")]
    #[case("test test test test test test test test test test test qwxz", "position 11")]
    fn bad_mnemonics_are_rejected_without_echo(#[case] phrase: &str, #[case] reason: &str) {
        let err = derive_signers(phrase, "", 0, 1).unwrap_err().to_string();
        assert!(err.contains(reason), "{err}");
        assert!(!err.contains("test test"), "{err}");
        assert!(!err.contains("qwxz"), "{err}");
    }

    #[test]
    fn indices_past_the_hardened_boundary_are_refused() {
        assert!(derive_signers(TEST_MNEMONIC, "", u32::MAX, 2).is_err());
        assert!(derive_signers(TEST_MNEMONIC, "", 0, 0).unwrap().is_empty());
    }
}
