// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../interfaces/IERC20.sol";
import {IERC1155, IERC1155Receiver} from "../interfaces/IERC1155.sol";
import {ReentrancyGuard} from "../utils/ReentrancyGuard.sol";
import {SafeERC20} from "../utils/SafeERC20.sol";

/// @title LocalExchange
/// @notice Local/test chains only: the venue of the local world. Makers deposit outcome-token inventory and
/// collateral; a taker fills against one maker at an exact price (collateral / tokens), moving real CTF
/// ERC-1155 tokens and collateral. Each fill emits Polymarket CTF Exchange V2's events in its order: the
/// maker order's `OrderFilled` row (maker = the maker, taker = the taker), the taker order's row (maker = the
/// taker, taker = this exchange, as on Polygon) and `OrdersMatched`. So a leader's trade here looks on chain
/// like one on Polygon.
contract LocalExchange is ReentrancyGuard, IERC1155Receiver {
    using SafeERC20 for IERC20;

    enum Side {
        BUY,
        SELL
    }

    error ZeroAmount();
    error PriceAboveOne(uint256 collateralAmount, uint256 tokenAmount);
    error InsufficientInventory(address maker, uint256 tokenId, uint256 available, uint256 needed);
    error InsufficientCollateral(address maker, uint256 available, uint256 needed);
    error DirectTransferRefused(address operator);

    /// @dev Polymarket CTF Exchange V2's event, field for field (topics: hash, maker, taker).
    event OrderFilled(
        bytes32 indexed orderHash,
        address indexed maker,
        address indexed taker,
        Side side,
        uint256 tokenId,
        uint256 makerAmountFilled,
        uint256 takerAmountFilled,
        uint256 fee,
        bytes32 builder,
        bytes32 metadata
    );
    /// @dev Polymarket CTF Exchange V2's event, emitted once per match after the taker order's row.
    event OrdersMatched(
        bytes32 indexed takerOrderHash,
        address indexed takerOrderMaker,
        Side side,
        uint256 tokenId,
        uint256 makerAmountFilled,
        uint256 takerAmountFilled
    );
    event InventoryChanged(address indexed maker, uint256 indexed tokenId, uint256 tokens);
    event CollateralChanged(address indexed maker, uint256 collateral);

    IERC20 public immutable collateral;
    IERC1155 public immutable ctf;
    uint256 public fills;
    mapping(address => mapping(uint256 => uint256)) public inventory;
    mapping(address => uint256) public collateralOf;

    constructor(address collateral_, address ctf_) {
        collateral = IERC20(collateral_);
        ctf = IERC1155(ctf_);
    }

    // ---------------------------------------------------------------- maker

    function depositTokens(uint256 tokenId, uint256 amount) external nonReentrant {
        uint256 tokens = inventory[msg.sender][tokenId] + amount;
        inventory[msg.sender][tokenId] = tokens;
        emit InventoryChanged(msg.sender, tokenId, tokens);
        ctf.safeTransferFrom(msg.sender, address(this), tokenId, amount, "");
    }

    function withdrawTokens(uint256 tokenId, uint256 amount) external nonReentrant {
        uint256 available = inventory[msg.sender][tokenId];
        if (available < amount) revert InsufficientInventory(msg.sender, tokenId, available, amount);
        inventory[msg.sender][tokenId] = available - amount;
        emit InventoryChanged(msg.sender, tokenId, available - amount);
        ctf.safeTransferFrom(address(this), msg.sender, tokenId, amount, "");
    }

    function depositCollateral(uint256 amount) external nonReentrant {
        uint256 total = collateralOf[msg.sender] + amount;
        collateralOf[msg.sender] = total;
        emit CollateralChanged(msg.sender, total);
        collateral.safeTransferFrom(msg.sender, address(this), amount);
    }

    function withdrawCollateral(uint256 amount) external nonReentrant {
        uint256 available = collateralOf[msg.sender];
        if (available < amount) revert InsufficientCollateral(msg.sender, available, amount);
        collateralOf[msg.sender] = available - amount;
        emit CollateralChanged(msg.sender, available - amount);
        collateral.safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- taker

    /// @notice The caller (taker) buys or sells `tokenAmount` of `tokenId` for `collateralAmount` against
    /// `maker`'s deposits. BUY: the taker pays collateral and receives tokens; SELL: the reverse.
    /// @return takerOrderHash the hash in the taker row and in `OrdersMatched`.
    function fill(address maker, Side side, uint256 tokenId, uint256 tokenAmount, uint256 collateralAmount)
        external
        nonReentrant
        returns (bytes32 takerOrderHash)
    {
        if (tokenAmount == 0 || collateralAmount == 0) revert ZeroAmount();
        if (collateralAmount > tokenAmount) revert PriceAboveOne(collateralAmount, tokenAmount);
        uint256 n = fills + 2;
        fills = n;
        bytes32 makerOrderHash = keccak256(abi.encode(block.chainid, address(this), n - 1));
        takerOrderHash = keccak256(abi.encode(block.chainid, address(this), n));

        if (side == Side.BUY) {
            uint256 available = inventory[maker][tokenId];
            if (available < tokenAmount) revert InsufficientInventory(maker, tokenId, available, tokenAmount);
            inventory[maker][tokenId] = available - tokenAmount;
            collateralOf[maker] += collateralAmount;
            collateral.safeTransferFrom(msg.sender, address(this), collateralAmount);
            ctf.safeTransferFrom(address(this), msg.sender, tokenId, tokenAmount, "");
            // The maker sold: it gave tokens (maker amount) for collateral (taker amount).
            emit OrderFilled(
                makerOrderHash, maker, msg.sender, Side.SELL, tokenId, tokenAmount, collateralAmount, 0, 0, 0
            );
            emit OrderFilled(
                takerOrderHash, msg.sender, address(this), Side.BUY, tokenId, collateralAmount, tokenAmount, 0, 0, 0
            );
            emit OrdersMatched(takerOrderHash, msg.sender, Side.BUY, tokenId, collateralAmount, tokenAmount);
        } else {
            uint256 available = collateralOf[maker];
            if (available < collateralAmount) revert InsufficientCollateral(maker, available, collateralAmount);
            collateralOf[maker] = available - collateralAmount;
            inventory[maker][tokenId] += tokenAmount;
            ctf.safeTransferFrom(msg.sender, address(this), tokenId, tokenAmount, "");
            collateral.safeTransfer(msg.sender, collateralAmount);
            emit OrderFilled(
                makerOrderHash, maker, msg.sender, Side.BUY, tokenId, collateralAmount, tokenAmount, 0, 0, 0
            );
            emit OrderFilled(
                takerOrderHash, msg.sender, address(this), Side.SELL, tokenId, tokenAmount, collateralAmount, 0, 0, 0
            );
            emit OrdersMatched(takerOrderHash, msg.sender, Side.SELL, tokenId, tokenAmount, collateralAmount);
        }
    }

    // ------------------------------------------------------------- ERC-1155

    /// @dev Only transfers this exchange makes itself are accepted: tokens sent directly would be lost.
    function onERC1155Received(address operator, address, uint256, uint256, bytes calldata)
        external
        view
        returns (bytes4)
    {
        if (operator != address(this)) revert DirectTransferRefused(operator);
        return IERC1155Receiver.onERC1155Received.selector;
    }

    function onERC1155BatchReceived(address operator, address, uint256[] calldata, uint256[] calldata, bytes calldata)
        external
        view
        returns (bytes4)
    {
        if (operator != address(this)) revert DirectTransferRefused(operator);
        return IERC1155Receiver.onERC1155BatchReceived.selector;
    }

    function supportsInterface(bytes4 interfaceId) external pure returns (bool) {
        return interfaceId == 0x01ffc9a7 || interfaceId == 0x4e2312e0;
    }
}
