//! `matchOrders` calldata of Polymarket's V2 exchanges → one [`OrderFill`] per order, as the exchange will
//! settle and emit it, so a pending transaction can be read before its block.
//!
//! The call (selector `0x3c2b4399`) carries the taker order, the maker orders (each a dynamic tuple ending in
//! `bytes signature`, so `makerOrders` is an array of offsets) and the fill amounts, all in each order's
//! maker-amount terms. What each order executes follows from them alone:
//! - maker `i` makes `makerFillAmounts[i]` and takes `making × takerAmount / makerAmount` (floor);
//! - the taker's amounts are what its makers' fills imply: a COMPLEMENTARY leg (opposite side) gives the
//!   taker the maker's making and costs it the maker's taking; MINT legs (both BUY) and MERGE legs (both
//!   SELL) add to one split or merge of `ctfAmount` whose price the taker pays or receives the rest of.
//!   They never exceed `takerFillAmount` (the exchange reverts otherwise). This is the local exchange's rule
//!   and Polygon's for COMPLEMENTARY matches; Polygon's MINT/MERGE taker rows report `takerFillAmount` itself
//!   as its making.
//!
//! Records come out in the order the exchange emits `OrderFilled`: the makers in calldata order, then the
//! taker. Calldata that does not decode is a `Decode` error; calldata that decodes but would revert (zero
//! maker amount, an overflow, a taker fill exceeded, prices that do not cross into a split or merge) is an
//! `InvalidInput` error: neither ever yields a fill.

pub mod txjson;

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{abi::AbiDecoderConfig, SolCall};

use crate::eip712::{self, ExchangeDomain, OrderRef, SIGNATURE_TYPE_POLY_1271};
use crate::error::{CoreError, CoreResult};
use crate::logs::{AddressSet, Reject};
use crate::poly1271;
use crate::signal::{address_hex, Side, Signal, Source};
use crate::signer::{recover_address, SIGNATURE_LEN};

/// The V2 exchange's ABI for `matchOrders`.
pub mod abi {
    alloy_sol_types::sol! {
        #[derive(Debug, PartialEq, Eq)]
        struct Order {
            uint256 salt;
            address maker;
            address signer;
            uint256 tokenId;
            uint256 makerAmount;
            uint256 takerAmount;
            uint8 side;
            uint8 signatureType;
            uint256 timestamp;
            bytes32 metadata;
            bytes32 builder;
            bytes signature;
        }

        #[derive(Debug, PartialEq, Eq)]
        function matchOrders(
            bytes32 conditionId,
            Order takerOrder,
            Order[] makerOrders,
            uint256 takerFillAmount,
            uint256[] makerFillAmounts,
            uint256 takerFeeAmount,
            uint256[] makerFeeAmounts
        );
    }
}

/// `matchOrders(bytes32,(…)、(…)[],uint256,uint256[],uint256,uint256[])`'s selector.
pub const MATCH_ORDERS_SELECTOR: [u8; 4] = abi::matchOrdersCall::SELECTOR;

/// The log index a pending fill's signal carries: it has no log yet, and no log has this index.
pub const NO_LOG_INDEX: u64 = u64::MAX;

/// Calldata above this size is refused before decoding (a real match of 50 orders is about 40 KiB).
pub const MAX_CALLDATA: usize = 1 << 20;

/// How a maker order meets the taker: opposite sides trade peer to peer; two BUYs mint, two SELLs merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    Complementary,
    Mint,
    Merge,
}

impl MatchType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Complementary => "COMPLEMENTARY",
            Self::Mint => "MINT",
            Self::Merge => "MERGE",
        }
    }
}

/// What the calldata says about an order's signature. EOA signatures are checked here in full (ecrecover
/// as the exchange does it); a POLY_1271 wrap yields the key that signed it, which must be the deposit
/// wallet's owner, a chain read the caller makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Type 0: the maker signed the order hash itself.
    Valid,
    /// Type 3: the wrap is well formed and bound to this order; valid if `owner` owns the wallet.
    NeedsOwner { owner: Address },
    /// Never accepted by the exchange, with the reason.
    Invalid(String),
    /// A kind this decoder does not verify (POLY_PROXY, POLY_GNOSIS_SAFE: the wallet is derived from the
    /// signing key by factories not modelled here).
    Unsupported(String),
    /// Not checked (the maker is not watched, so nobody will act on it).
    Unchecked,
}

/// One order of a match: the order, its hash, and what it executes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderFill {
    /// Position in emission order: makers `0..n`, the taker `n`.
    pub position: u32,
    pub is_taker: bool,
    /// For a maker, how it meets the taker; the taker's own is `None`.
    pub match_type: Option<MatchType>,
    pub order: eip712::v2::Order,
    pub signature: Vec<u8>,
    /// The EIP-712 digest under the exchange's domain: the `orderHash` of its `OrderFilled`.
    pub order_hash: B256,
    /// The fill amount the calldata names (maker-amount terms): `makerFillAmounts[i]` or `takerFillAmount`.
    pub fill_amount: U256,
    /// What the order executes, as its `OrderFilled` reports it (maker-amount and taker-amount terms).
    pub making: U256,
    pub taking: U256,
    pub fee: U256,
    pub signature_check: SignatureCheck,
    /// Whether the maker is one of the tracked leaders.
    pub watched: bool,
}

impl OrderFill {
    pub fn side(&self) -> Side {
        if self.order.side == eip712::SIDE_BUY {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// Outcome tokens and collateral the fill moves for the order's maker.
    pub fn size_and_usd(&self) -> (U256, U256) {
        match self.side() {
            Side::Buy => (self.taking, self.making),
            Side::Sell => (self.making, self.taking),
        }
    }

    /// The order's own limit as the exact ratio collateral ÷ tokens (not reduced).
    pub fn limit_price(&self) -> (U256, U256) {
        match self.side() {
            Side::Buy => (self.order.makerAmount, self.order.takerAmount),
            Side::Sell => (self.order.takerAmount, self.order.makerAmount),
        }
    }

    /// The signal of this fill seen pending in `tx_hash` to `exchange`: price = collateral ÷ tokens of the
    /// fill, no block, no log index ([`NO_LOG_INDEX`]), sub index = the order's position.
    pub fn signal(&self, tx_hash: B256, exchange: Address, seen_at_ns: u64) -> Signal {
        let (size, usd) = self.size_and_usd();
        Signal {
            leader: self.order.maker,
            token_id: self.order.tokenId,
            side: self.side(),
            size,
            price_num: usd,
            price_den: size,
            usd,
            tx_hash,
            log_index: NO_LOG_INDEX,
            sub_index: self.position,
            block_number: None,
            block_hash: None,
            exchange,
            source: Source::Mempool,
            removed: false,
            seen_at_ns,
            order_hash: Some(self.order_hash),
        }
    }
}

/// A decoded `matchOrders` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub exchange: Address,
    pub condition_id: B256,
    pub taker_fill_amount: U256,
    /// Makers in calldata order, then the taker.
    pub fills: Vec<OrderFill>,
}

/// A pending transaction that calls `matchOrders` on a watched exchange, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMatch {
    pub tx_hash: B256,
    pub sender: Address,
    pub nonce: Option<u64>,
    pub call: Match,
}

/// The outcome of decoding a batch of transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedTransactions {
    pub matches: Vec<PendingMatch>,
    /// Transactions to a watched exchange with the selector whose calldata is malformed or would revert.
    pub rejects: Vec<Reject>,
    /// Transactions that are not `matchOrders` to a watched exchange.
    pub ignored: usize,
    /// Entries that were only a transaction hash (nodes that do not send full objects): fetch them.
    pub hashes: Vec<B256>,
}

/// Decodes `matchOrders` calldata for a set of V2 exchanges on one chain; built once.
pub struct MatchDecoder {
    chain_id: u64,
    domains: HashMap<Address, ExchangeDomain, foldhash::fast::RandomState>,
    leaders: RwLock<Option<Arc<AddressSet>>>,
}

impl MatchDecoder {
    /// `exchanges`: the V2 exchanges (standard and neg-risk) whose calls are read; `leaders`: `None` tracks
    /// every maker.
    pub fn new(
        chain_id: u64,
        exchanges: impl IntoIterator<Item = Address>,
        leaders: Option<AddressSet>,
    ) -> CoreResult<Self> {
        let mut domains = HashMap::default();
        for exchange in exchanges {
            domains
                .insert(exchange, ExchangeDomain::new(exchange, chain_id, 2, eip712::EXCHANGE_DOMAIN_NAME)?);
        }
        if domains.is_empty() {
            return Err(CoreError::InvalidInput("MatchDecoder needs at least one V2 exchange".into()));
        }
        Ok(Self { chain_id, domains, leaders: RwLock::new(leaders.map(Arc::new)) })
    }

    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The watched exchanges (unordered).
    pub fn exchanges(&self) -> impl Iterator<Item = &Address> {
        self.domains.keys()
    }

    /// Replaces the tracked leaders (`None`: everyone); decodes in flight keep the set they started with.
    pub fn set_leaders(&self, leaders: Option<AddressSet>) {
        *self.leaders.write().unwrap_or_else(PoisonError::into_inner) = leaders.map(Arc::new);
    }

    pub fn leaders(&self) -> Option<Arc<AddressSet>> {
        self.leaders.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Decodes one call's input (selector included) sent to `exchange`.
    pub fn decode_call(&self, exchange: Address, input: &[u8]) -> CoreResult<Match> {
        let domain = self.domains.get(&exchange).ok_or_else(|| {
            CoreError::InvalidInput(format!("{} is not a watched V2 exchange", address_hex(&exchange)))
        })?;
        let leaders = self.leaders();
        decode_match(domain, input, leaders.as_deref())
    }

    /// Decodes pending transactions given as JSON (see [`txjson::transactions`] for the shapes accepted).
    /// Only calls of `matchOrders` to a watched exchange are decoded; each of them that fails is a reject.
    pub fn decode_transactions(&self, raw: &[u8]) -> CoreResult<DecodedTransactions> {
        let leaders = self.leaders();
        let mut out = DecodedTransactions::default();
        for (index, entry) in txjson::transactions(raw).map_err(CoreError::Decode)?.into_iter().enumerate() {
            let tx = match entry {
                txjson::Entry::Hash(hash) => {
                    out.hashes.push(hash);
                    continue;
                }
                txjson::Entry::Tx(tx) => tx,
                txjson::Entry::Bad(reason) => {
                    out.rejects.push(Reject { index, reason });
                    continue;
                }
            };
            let domain = match tx.to.and_then(|to| self.domains.get(&to)) {
                Some(domain) if tx.input.starts_with(&MATCH_ORDERS_SELECTOR) => domain,
                _ => {
                    out.ignored += 1;
                    continue;
                }
            };
            match decode_match(domain, &tx.input, leaders.as_deref()) {
                Ok(call) => out.matches.push(PendingMatch {
                    tx_hash: tx.hash,
                    sender: tx.from,
                    nonce: tx.nonce,
                    call,
                }),
                Err(err) => out.rejects.push(Reject { index, reason: format!("tx {:#x}: {err}", tx.hash) }),
            }
        }
        Ok(out)
    }
}

fn strict() -> AbiDecoderConfig {
    // Validation as eth-abi does it (address padding, uint8 range); the memory limit bounds what a crafted
    // array length can make the decoder allocate.
    AbiDecoderConfig::new().validate(true).memory_limit(4 * MAX_CALLDATA)
}

fn reverts(what: String) -> CoreError {
    CoreError::InvalidInput(format!("matchOrders would revert: {what}"))
}

/// Decodes and settles one call on paper under `domain`.
pub fn decode_match(
    domain: &ExchangeDomain,
    input: &[u8],
    leaders: Option<&AddressSet>,
) -> CoreResult<Match> {
    if input.len() > MAX_CALLDATA {
        return Err(CoreError::Decode(format!(
            "matchOrders calldata is {} bytes, more than the {MAX_CALLDATA} accepted",
            input.len()
        )));
    }
    if !input.starts_with(&MATCH_ORDERS_SELECTOR) {
        let head = &input[..input.len().min(4)];
        return Err(CoreError::Decode(format!(
            "not a matchOrders call: selector 0x{} is not 0x3c2b4399",
            alloy_primitives::hex::encode(head)
        )));
    }
    let call = abi::matchOrdersCall::abi_decode_with_config(input, strict())
        .map_err(|e| CoreError::Decode(format!("matchOrders calldata: {e}")))?;
    let n = call.makerOrders.len();
    if n == 0 {
        return Err(reverts("no maker orders".into()));
    }
    if call.makerFillAmounts.len() != n || call.makerFeeAmounts.len() != n {
        return Err(reverts(format!(
            "{n} maker orders but {} fill amounts and {} fee amounts",
            call.makerFillAmounts.len(),
            call.makerFeeAmounts.len()
        )));
    }
    let position = |i: usize| u32::try_from(i).map_err(|_| CoreError::Decode("more than 2^32 orders".into()));
    let tracked = |a: &Address| leaders.is_none_or(|set| set.contains(a));
    let taker = &call.takerOrder;
    check_order(taker, "taker")?;
    let mut totals = Totals::default();
    let mut fills = Vec::with_capacity(n + 1);
    for (i, ((maker, fill), fee)) in
        call.makerOrders.iter().zip(&call.makerFillAmounts).zip(&call.makerFeeAmounts).enumerate()
    {
        check_order(maker, "maker")?;
        let match_type = match (maker.side == taker.side, taker.side == eip712::SIDE_BUY) {
            (false, _) => MatchType::Complementary,
            (true, true) => MatchType::Mint,
            (true, false) => MatchType::Merge,
        };
        check_crossing(taker, maker, match_type, i)?;
        if fill.is_zero() {
            return Err(reverts(format!("maker order {i} has a zero fill amount")));
        }
        let taking = mul_div(*fill, maker.takerAmount, maker.makerAmount)?;
        totals.add(match_type, taker.side, *fill, taking)?;
        let (order, signature) = split(maker);
        fills.push(finish(
            domain,
            order,
            signature,
            position(i)?,
            Some(match_type),
            *fill,
            *fill,
            taking,
            *fee,
            &tracked,
        )?);
    }
    let (making, taking) = totals.close(taker.side)?;
    if making > call.takerFillAmount {
        return Err(reverts(format!(
            "the taker executes {making}, more than its fill amount {}",
            call.takerFillAmount
        )));
    }
    let minimum = mul_div(making, taker.takerAmount, taker.makerAmount)?;
    if taking < minimum {
        return Err(reverts(format!("the taker receives {taking}, less than the {minimum} its price asks")));
    }
    let (order, signature) = split(taker);
    fills.push(finish(
        domain,
        order,
        signature,
        position(n)?,
        None,
        call.takerFillAmount,
        making,
        taking,
        call.takerFeeAmount,
        &tracked,
    )?);
    Ok(Match {
        exchange: domain.exchange,
        condition_id: call.conditionId,
        taker_fill_amount: call.takerFillAmount,
        fills,
    })
}

fn check_order(order: &abi::Order, role: &str) -> CoreResult<()> {
    if order.makerAmount.is_zero() {
        return Err(reverts(format!("the {role} order has a zero maker amount")));
    }
    if order.side > eip712::SIDE_SELL {
        return Err(reverts(format!("the {role} order's side is {}, not 0 (BUY) or 1 (SELL)", order.side)));
    }
    Ok(())
}

/// The exchange's price checks of one leg: the same token at crossing prices, or for a split (merge) two
/// BUY (SELL) prices summing to at least (at most) 1. Whether the tokens are complements is the exchange's
/// registry's to say; here they must at least differ.
fn check_crossing(taker: &abi::Order, maker: &abi::Order, kind: MatchType, i: usize) -> CoreResult<()> {
    let mul =
        |a: U256, b: U256| a.checked_mul(b).ok_or_else(|| reverts(format!("{a} × {b} overflows uint256")));
    let crosses = match kind {
        MatchType::Complementary => {
            if maker.tokenId != taker.tokenId {
                return Err(reverts(format!("maker order {i} trades another token than the taker")));
            }
            // BUY price ≥ SELL price, cross-multiplied (the same product for either side as taker).
            mul(taker.makerAmount, maker.makerAmount)? >= mul(taker.takerAmount, maker.takerAmount)?
        }
        MatchType::Mint | MatchType::Merge => {
            if maker.tokenId == taker.tokenId {
                return Err(reverts(format!("maker order {i} is on the taker's side of the same token")));
            }
            let lhs =
                add(mul(taker.takerAmount, maker.makerAmount)?, mul(maker.takerAmount, taker.makerAmount)?)?;
            if kind == MatchType::Mint {
                lhs >= mul(taker.takerAmount, maker.takerAmount)?
            } else {
                lhs <= mul(taker.makerAmount, maker.makerAmount)?
            }
        }
    };
    if crosses {
        Ok(())
    } else {
        Err(reverts(format!("maker order {i}'s price does not cross the taker's ({})", kind.as_str())))
    }
}

/// `a × b / c` (floor) with the exchange's checked arithmetic.
fn mul_div(a: U256, b: U256, c: U256) -> CoreResult<U256> {
    let product = a.checked_mul(b).ok_or_else(|| reverts(format!("{a} × {b} overflows uint256")))?;
    Ok(product / c)
}

fn add(a: U256, b: U256) -> CoreResult<U256> {
    a.checked_add(b).ok_or_else(|| reverts(format!("{a} + {b} overflows uint256")))
}

/// The taker's running amounts while the legs are added.
#[derive(Default)]
struct Totals {
    making: U256,
    taking: U256,
    /// Tokens split (MINT) or merged (MERGE), and what the makers of those legs pay or receive for them.
    ctf_amount: U256,
    ctf_offset: U256,
}

impl Totals {
    fn add(&mut self, kind: MatchType, taker_side: u8, making: U256, taking: U256) -> CoreResult<()> {
        match kind {
            MatchType::Complementary => {
                self.making = add(self.making, taking)?;
                self.taking = add(self.taking, making)?;
            }
            // A BUY maker of the complement pays `making` collateral for `taking` minted tokens.
            MatchType::Mint if taker_side == eip712::SIDE_BUY => {
                self.ctf_amount = add(self.ctf_amount, taking)?;
                self.ctf_offset = add(self.ctf_offset, making)?;
            }
            // A SELL maker of the complement gives `making` tokens to the merge for `taking` collateral.
            _ => {
                self.ctf_amount = add(self.ctf_amount, making)?;
                self.ctf_offset = add(self.ctf_offset, taking)?;
            }
        }
        Ok(())
    }

    /// The taker's `(making, taking)`: the split's or merge's rest goes to it.
    fn close(mut self, taker_side: u8) -> CoreResult<(U256, U256)> {
        if !self.ctf_amount.is_zero() {
            let rest = self.ctf_amount.checked_sub(self.ctf_offset).ok_or_else(|| {
                reverts(format!(
                    "the complement's makers pay or receive {} for {} tokens: the prices do not cross",
                    self.ctf_offset, self.ctf_amount
                ))
            })?;
            if taker_side == eip712::SIDE_BUY {
                self.making = add(self.making, rest)?;
                self.taking = add(self.taking, self.ctf_amount)?;
            } else {
                self.making = add(self.making, self.ctf_amount)?;
                self.taking = add(self.taking, rest)?;
            }
        }
        Ok((self.making, self.taking))
    }
}

/// The EIP-712 order (every field but the signature) and the signature.
fn split(order: &abi::Order) -> (eip712::v2::Order, Vec<u8>) {
    (
        eip712::v2::Order {
            salt: order.salt,
            maker: order.maker,
            signer: order.signer,
            tokenId: order.tokenId,
            makerAmount: order.makerAmount,
            takerAmount: order.takerAmount,
            side: order.side,
            signatureType: order.signatureType,
            timestamp: order.timestamp,
            metadata: order.metadata,
            builder: order.builder,
        },
        order.signature.to_vec(),
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    domain: &ExchangeDomain,
    order: eip712::v2::Order,
    signature: Vec<u8>,
    position: u32,
    match_type: Option<MatchType>,
    fill_amount: U256,
    making: U256,
    taking: U256,
    fee: U256,
    tracked: &impl Fn(&Address) -> bool,
) -> CoreResult<OrderFill> {
    let order_hash = domain.order_hash(OrderRef::V2(&order))?;
    let watched = tracked(&order.maker);
    // Recovery costs ~30 µs an order: only orders someone will act on are checked.
    let signature_check = if watched {
        check_signature(&order, &signature, &order_hash, domain.chain_id)
    } else {
        SignatureCheck::Unchecked
    };
    Ok(OrderFill {
        position,
        is_taker: match_type.is_none(),
        match_type,
        order,
        signature,
        order_hash,
        fill_amount,
        making,
        taking,
        fee,
        signature_check,
        watched,
    })
}

/// secp256k1's n / 2: the exchange (like OpenZeppelin's ECDSA) refuses a larger `s`.
const HALF_N: U256 = U256::from_be_slice(&[
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x5d,
    0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// Checks a signature as the exchange would, as far as the calldata allows.
pub fn check_signature(
    order: &eip712::v2::Order,
    signature: &[u8],
    order_hash: &B256,
    chain_id: u64,
) -> SignatureCheck {
    let kind = order.signatureType;
    if (kind == 0 || kind == SIGNATURE_TYPE_POLY_1271) && order.signer != order.maker {
        return SignatureCheck::Invalid(format!(
            "signer {} is not the maker {}",
            address_hex(&order.signer),
            address_hex(&order.maker)
        ));
    }
    match kind {
        0 => {
            if signature.len() != SIGNATURE_LEN {
                return SignatureCheck::Invalid(format!(
                    "an EOA signature is {SIGNATURE_LEN} bytes, got {}",
                    signature.len()
                ));
            }
            let v = signature[64];
            if v != 27 && v != 28 {
                return SignatureCheck::Invalid(format!("signature v must be 27 or 28, got {v}"));
            }
            if U256::from_be_slice(&signature[32..64]) > HALF_N {
                return SignatureCheck::Invalid("signature s is above n/2 (malleable)".into());
            }
            match recover_address(order_hash, signature) {
                Ok(signer) if signer == order.signer => SignatureCheck::Valid,
                Ok(other) => SignatureCheck::Invalid(format!(
                    "signed by {}, not the signer {}",
                    address_hex(&other),
                    address_hex(&order.signer)
                )),
                Err(err) => SignatureCheck::Invalid(err.to_string()),
            }
        }
        SIGNATURE_TYPE_POLY_1271 => {
            match poly1271::recover_owner(signature, order.maker, chain_id, order_hash) {
                Ok(owner) => SignatureCheck::NeedsOwner { owner },
                Err(err) => SignatureCheck::Invalid(err.to_string()),
            }
        }
        1 | 2 => SignatureCheck::Unsupported(format!(
            "signature type {kind} (proxy or Safe wallet) is not verified"
        )),
        other => SignatureCheck::Invalid(format!("signature type {other} does not exist (0 to 3)")),
    }
}

#[cfg(test)]
mod tests;
