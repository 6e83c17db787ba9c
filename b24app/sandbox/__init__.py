"""Sandbox: emulated Bitrix24 portals (REST model, OAuth server, event sender) for tests and demos."""
