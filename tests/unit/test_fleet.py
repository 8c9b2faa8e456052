"""The fleet: signers derived in Rust at m/44'/60'/0'/0/i, checked against eth-account's `from_mnemonic`."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.hdaccount.mnemonic import Mnemonic
from hypothesis import given
from hypothesis import strategies as st

from polyhunter import InvalidInputError
from polyhunter._core import FLEET_ACCOUNT_PATH, Signer, derive_signers

Account.enable_unaudited_hdwallet_features()

TEST_MNEMONIC = "test test test test test test test test test test test junk"
ENGLISH = Mnemonic()  # English


def test_standard_test_mnemonic_gives_anvils_first_accounts() -> None:
    fleet = derive_signers(TEST_MNEMONIC, 3)
    assert [s.checksum_address for s in fleet] == [
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    ]
    assert fleet[0].address == "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"
    assert all(isinstance(s, Signer) for s in fleet)
    assert FLEET_ACCOUNT_PATH == "m/44'/60'/0'/0"


def test_start_offsets_and_empty_fleet() -> None:
    assert [s.address for s in derive_signers(TEST_MNEMONIC, 2, start=1)] == [
        s.address for s in derive_signers(TEST_MNEMONIC, 3)[1:]
    ]
    assert derive_signers(TEST_MNEMONIC, 0) == []


def test_fleet_signers_sign_like_the_derived_key() -> None:
    digest = bytes(range(32))
    ours = derive_signers(TEST_MNEMONIC, 2, start=4)[1]
    reference = Account.from_mnemonic(TEST_MNEMONIC, account_path=f"{FLEET_ACCOUNT_PATH}/5")
    assert ours.sign_hash(digest) == bytes(Account._sign_hash(digest, reference.key).signature)


entropy = st.sampled_from([16, 20, 24, 28, 32]).flatmap(lambda n: st.binary(min_size=n, max_size=n))
# Characters this Python's Unicode tables leave unassigned (Cn) are left out: eth-account normalises with
# `unicodedata` (Unicode 14 on 3.11) and we with a newer table, and NFKD of a character is only stable once
# it is assigned. Assigned characters never change decomposition (Unicode's stability policy).
passphrases = st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=24)


@given(entropy, st.none() | passphrases, st.integers(min_value=0, max_value=2**31 - 3))
def test_random_mnemonics_equal_eth_account(raw: bytes, passphrase: str | None, start: int) -> None:
    phrase = ENGLISH.to_mnemonic(raw)
    if passphrase is None:
        ours = derive_signers(phrase, 2, start=start)
        passphrase = ""
    else:
        ours = derive_signers(phrase, 2, passphrase=passphrase, start=start)
    expected = [
        Account.from_mnemonic(phrase, passphrase=passphrase, account_path=f"m/44'/60'/0'/0/{i}").address
        for i in (start, start + 1)
    ]
    assert [s.checksum_address for s in ours] == expected


@pytest.mark.parametrize(
    ("phrase", "reason"),
    [
        ("wolf " * 11 + "cattle", "checksum"),
        ("wolf wolf wolf", "12, 15, 18, 21 or 24"),
        ("wolf " * 11 + "xylophonez", "position 11"),
    ],
)
def test_bad_mnemonics_raise_without_echoing_them(phrase: str, reason: str) -> None:
    with pytest.raises(InvalidInputError, match=reason) as info:
        derive_signers(phrase, 1)
    message = str(info.value)
    assert "wolf" not in message
    assert "xylophonez" not in message


def test_passphrase_never_appears_in_errors_or_reprs() -> None:
    secret = "correct horse battery staple"
    fleet = derive_signers(TEST_MNEMONIC, 2, passphrase=secret)
    assert all(secret not in repr(s) and "test test" not in repr(s) for s in fleet)
    with pytest.raises(InvalidInputError) as info:
        derive_signers("wolf " * 11 + "cattle", 1, passphrase=secret)
    assert secret not in str(info.value)


def test_index_range_is_checked() -> None:
    with pytest.raises(InvalidInputError, match="2\\*\\*31"):
        derive_signers(TEST_MNEMONIC, 2, start=2**31 - 1)
    with pytest.raises(OverflowError):
        derive_signers(TEST_MNEMONIC, -1)
