"""Start-up checks on the local world: EXECUTOR_ADDRESS, PROXY_FACTORY_ADDRESS, USDC_ADDRESS and CTF_ADDRESS
take effect over deployment.json (a new Executor/factory pair is read back from the chain: treasury, Proxy
init code hash), a pair that is not bound together or an address without code stops start-up."""

from __future__ import annotations

from typing import Any

import pytest

from polyhunter.chain.aiorpc import AsyncRpc
from polyhunter.chain.deploy import CoreAddresses, deploy_core
from polyhunter.chain.local import LocalChain
from polyhunter.errors import ConfigError
from polyhunter.settings import Settings
from polyhunter.supervisor.startup import apply_address_settings, verify_chain, verify_contracts

pytestmark = pytest.mark.integration


def settings(**values: Any) -> Settings:
    # Explicit values win over whatever the developer's environment holds.
    defaults: dict[str, Any] = {
        "chain_id": None,
        "executor_address": None,
        "proxy_factory_address": None,
        "usdc_address": None,
        "ctf_address": None,
        "copy_trading_rpc_urls": "",
        "copy_trading_rpc_url": None,
        "copy_trading_ws_url": None,
    }
    return Settings(**{**defaults, **values})


def second_core(chain: LocalChain) -> CoreAddresses:
    c = chain.deployment.contracts
    owner = chain.accounts.owner
    # A fee makes the Executor name its treasury on chain, which is where start-up reads it from.
    return deploy_core(chain.w3, owner, collateral=c.collateral, ctf=c.ctf, fleet=[], fee_bps=10)


@pytest.mark.asyncio
async def test_no_address_setting_keeps_the_deployment(local_chain: LocalChain) -> None:
    deployment = local_chain.deployment
    async with AsyncRpc([deployment.rpc_url]) as rpc:
        assert await apply_address_settings(settings(), deployment, rpc) is deployment
        await verify_contracts(deployment, rpc)
    await verify_chain(settings(chain_id=deployment.chain_id), deployment)


@pytest.mark.asyncio
async def test_collateral_and_ctf_settings_take_effect(local_chain: LocalChain) -> None:
    deployment = local_chain.deployment
    other = deployment.contracts.usdce
    assert other is not None
    async with AsyncRpc([deployment.rpc_url]) as rpc:
        applied = await apply_address_settings(settings(usdc_address=other), deployment, rpc)
        await verify_contracts(applied, rpc)
    assert applied.contracts.collateral == other
    assert applied.contracts.ctf == deployment.contracts.ctf
    assert applied.proxy_init_code_hash == deployment.proxy_init_code_hash
    assert applied.executor_from_block == deployment.executor_from_block  # the same Executor


@pytest.mark.asyncio
async def test_a_new_executor_and_factory_take_effect(local_chain: LocalChain) -> None:
    deployment = local_chain.deployment
    core = second_core(local_chain)
    chosen = settings(executor_address=core.executor, proxy_factory_address=core.proxy_factory)
    async with AsyncRpc([deployment.rpc_url]) as rpc:
        applied = await apply_address_settings(chosen, deployment, rpc)
    assert (applied.contracts.executor, applied.contracts.proxy_factory) == (
        core.executor.lower(),
        core.proxy_factory.lower(),
    )
    assert applied.contracts.treasury == core.treasury.lower()
    assert applied.proxy_init_code_hash == core.proxy_init_code_hash  # read from the new factory
    # deployment.json's block is the old Executor's: the new one's events are read without it.
    assert deployment.executor_from_block is not None
    assert applied.executor_from_block is None


@pytest.mark.asyncio
async def test_an_executor_the_factory_is_not_bound_to_is_refused(local_chain: LocalChain) -> None:
    deployment = local_chain.deployment
    core = second_core(local_chain)
    async with AsyncRpc([deployment.rpc_url]) as rpc:
        with pytest.raises(ConfigError) as caught:
            await apply_address_settings(settings(executor_address=core.executor), deployment, rpc)
    assert str(caught.value) == (
        f"PROXY_FACTORY_ADDRESS: {deployment.contracts.proxy_factory} is bound to Executor "
        f"{deployment.contracts.executor}, not {core.executor.lower()}"
    )


@pytest.mark.asyncio
async def test_an_address_setting_without_code_is_refused(local_chain: LocalChain) -> None:
    deployment = local_chain.deployment
    nowhere = "0x" + "34" * 20
    async with AsyncRpc([deployment.rpc_url]) as rpc:
        with pytest.raises(ConfigError) as caught:
            await apply_address_settings(settings(executor_address=nowhere), deployment, rpc)
        assert str(caught.value) == f"EXECUTOR_ADDRESS: no contract code at {nowhere} on this chain"
        applied = await apply_address_settings(settings(ctf_address=nowhere), deployment, rpc)
        with pytest.raises(ConfigError) as missing:
            await verify_contracts(applied, rpc)
    assert (
        str(missing.value)
        == f"the CTF (deployment.json or CTF_ADDRESS): no contract code at {nowhere} on this chain"
    )


@pytest.mark.asyncio
async def test_chain_id_is_checked_on_the_ws_url_too(local_chain: LocalChain) -> None:
    deployment = local_chain.deployment
    await verify_chain(settings(copy_trading_ws_url=deployment.ws_url), deployment)
    with pytest.raises(ConfigError) as caught:
        await verify_chain(settings(chain_id=137), deployment)
    assert str(caught.value) == "CHAIN_ID is 137, but deployment.json is for chain 31337"
