"""Callers' numbers: keyed-hash tokens for logs, E.164 numbers, pseudonyms and the vault."""

from core.privacy.numbers import InvalidNumber, can_receive_sms, normalize
from core.privacy.pseudonyms import pseudonym
from core.privacy.tokens import number_token
from core.privacy.vault import (
    AuditRecord,
    NotInVault,
    UnmaskRefused,
    Vault,
    VaultCorrupted,
    VaultEntry,
)

__all__ = [
    "AuditRecord",
    "InvalidNumber",
    "NotInVault",
    "UnmaskRefused",
    "Vault",
    "VaultCorrupted",
    "VaultEntry",
    "can_receive_sms",
    "normalize",
    "number_token",
    "pseudonym",
]
