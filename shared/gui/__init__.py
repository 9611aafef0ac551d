"""Qt plumbing shared by the three apps: workers, ops, status bar, needs-attention list, login, idle lock, theme.

Modules: ``workers`` (DbWorker, NetworkWorker, BackgroundCall), ``ops`` (CollectionOp, QueryOp, OpBus,
OpContext, OpChanges), ``status_bar`` (SyncStatusBar), ``attention`` (AttentionDialog), ``login``
(LoginDialog), ``idle`` (IdleLock), ``theme`` and ``app`` (create_app, install_excepthook, ClientRuntime).
"""
