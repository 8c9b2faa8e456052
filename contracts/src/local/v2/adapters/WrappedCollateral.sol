// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "../../../interfaces/IERC20.sol";
import {SafeERC20} from "../../../utils/SafeERC20.sol";

/// @title WrappedCollateral
/// @notice Local/test chains only: the 6-decimal ERC-20 that the NegRiskAdapter's positions are made of, as on
/// Polygon, where neg-risk positions are CTF positions over a wrapper of USDC.e rather than over USDC.e itself.
/// Anyone may unwrap their own balance 1:1; only the owner (the adapter that deployed it) wraps, mints, burns
/// and releases, which is how the adapter pays a conversion's collateral out of the reserve.
contract WrappedCollateral is IERC20 {
    using SafeERC20 for IERC20;

    error NotOwner(address caller);
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    string public constant name = "Wrapped Collateral";
    string public constant symbol = "WCOL";
    uint8 public constant decimals = 6;

    address public immutable owner;
    IERC20 public immutable underlying;

    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;

    constructor(address underlying_) {
        owner = msg.sender;
        underlying = IERC20(underlying_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    /// @notice Pulls `amount` of the underlying from the owner and mints as much to `to`.
    function wrap(address to, uint256 amount) external onlyOwner {
        underlying.safeTransferFrom(msg.sender, address(this), amount);
        _mint(to, amount);
    }

    /// @notice Burns `amount` of the caller's balance and pays as much of the underlying to `to`.
    function unwrap(address to, uint256 amount) external {
        _burn(msg.sender, amount);
        underlying.safeTransfer(to, amount);
    }

    /// @notice Mints unbacked wrapped collateral to the owner: the adapter splits it into positions whose
    /// NO side it burns in the same call, so the reserve still covers every position anyone can redeem.
    function mint(uint256 amount) external onlyOwner {
        _mint(msg.sender, amount);
    }

    function burn(uint256 amount) external onlyOwner {
        _burn(msg.sender, amount);
    }

    /// @notice Pays `amount` of the underlying from the reserve without burning (a conversion's payout).
    function release(address to, uint256 amount) external onlyOwner {
        underlying.safeTransfer(to, amount);
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert InsufficientAllowance(msg.sender, allowed, amount);
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function _mint(address to, uint256 amount) private {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function _burn(address from, uint256 amount) private {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        unchecked {
            balanceOf[from] = balance - amount;
            totalSupply -= amount;
        }
        emit Transfer(from, address(0), amount);
    }

    function _move(address from, address to, uint256 amount) private {
        uint256 balance = balanceOf[from];
        if (balance < amount) revert InsufficientBalance(from, balance, amount);
        unchecked {
            balanceOf[from] = balance - amount;
        }
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
