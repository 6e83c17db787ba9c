"""b24app: Bitrix24 CRM reference lists as code (template -> plan -> safe apply)."""

__version__ = "0.1.0"
