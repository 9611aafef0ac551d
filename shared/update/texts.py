"""Messages of the updater and of ``clinic config check`` in the one catalog (shared/i18n.py)."""

from __future__ import annotations

from shared.i18n import register

_TEXTS: dict[str, dict[str, str]] = {
    "update.no_mirror": {
        "zh_CN": "未配置更新源（站点配置 update_mirror）",
        "en": "No update mirror is configured (site configuration update_mirror)",
        "zh_TW": "未配置更新源（站點配置 update_mirror）",
    },
    "update.not_installed": {
        "zh_CN": "这不是已安装的版本（开发环境）：更新只适用于安装包，或用 --install-root 指定安装目录",
        "en": "This is not an installed build (development checkout): updates apply to installed builds; "
        "give --install-root to name an installation",
        "zh_TW": "這不是已安裝的版本（開發環境）：更新只適用於安裝包，或用 --install-root 指定安裝目錄",
    },
    "update.up_to_date": {
        "zh_CN": "{app} {version} 已是最新版本",
        "en": "{app} {version} is up to date",
        "zh_TW": "{app} {version} 已是最新版本",
    },
    "update.available": {
        "zh_CN": "{app} 有新版本 {version}（当前 {current}）",
        "en": "{app} {version} is available (installed: {current})",
        "zh_TW": "{app} 有新版本 {version}（當前 {current}）",
    },
    "update.older_refused": {
        "zh_CN": "更新源提供的 {version} 不比已安装的 {current} 新，已拒绝",
        "en": "The mirror offers {version}, which is not newer than the installed {current}; refused",
        "zh_TW": "更新源提供的 {version} 不比已安裝的 {current} 新，已拒絕",
    },
    "update.known_bad": {
        "zh_CN": "{version} 曾在本机自检失败并已回退，不再自动安装",
        "en": "{version} failed its self-test on this PC and was rolled back; it is not installed again",
        "zh_TW": "{version} 曾在本機自檢失敗並已回退，不再自動安裝",
    },
    "update.verify_failed": {
        "zh_CN": "更新未通过签名校验，已拒绝（未解压任何文件）：{detail}",
        "en": "The update failed verification and was refused (nothing was unpacked): {detail}",
        "zh_TW": "更新未通過簽名校驗，已拒絕（未解壓任何文件）：{detail}",
    },
    "update.download_failed": {
        "zh_CN": "下载更新失败，稍后重试将继续下载：{detail}",
        "en": "Downloading the update failed; the next attempt resumes it: {detail}",
        "zh_TW": "下載更新失敗，稍後重試將繼續下載：{detail}",
    },
    "update.bad_archive": {
        "zh_CN": "更新包内容无效：{detail}",
        "en": "The update package is not valid: {detail}",
        "zh_TW": "更新包內容無效：{detail}",
    },
    "update.busy": {
        "zh_CN": "另一个更新正在进行（{path}）",
        "en": "Another update is in progress ({path})",
        "zh_TW": "另一個更新正在進行（{path}）",
    },
    "update.app_running": {
        "zh_CN": "{app} 正在运行（进程 {pids}）：请先关闭它再更新，本地数据库不会在使用中被迁移",
        "en": "{app} is running (process {pids}): close it and update again; a database in use is never "
        "migrated",
        "zh_TW": "{app} 正在運行（進程 {pids}）：請先關閉它再更新，本地數據庫不會在使用中被遷移",
    },
    "update.installed": {
        "zh_CN": "已安装 {app} {version}，自检通过；下次启动时生效（可回退到 {previous}）",
        "en": "Installed {app} {version}; its self-test passed. It runs from the next start "
        "(rollback to {previous} is kept)",
        "zh_TW": "已安裝 {app} {version}，自檢通過；下次啟動時生效（可回退到 {previous}）",
    },
    "update.rolled_back": {
        "zh_CN": "{version} 自检失败，已回退到 {current} 并恢复本地数据库备份：{detail}",
        "en": "{version} failed its self-test; rolled back to {current} and restored the local database "
        "backup: {detail}",
        "zh_TW": "{version} 自檢失敗，已回退到 {current} 並恢復本地數據庫備份：{detail}",
    },
    "update.no_previous": {
        "zh_CN": "没有可回退的旧版本",
        "en": "There is no previous version to roll back to",
        "zh_TW": "沒有可回退的舊版本",
    },
    "update.rollback_blocked": {
        "zh_CN": "{version} 无法打开已被 {current} 升级的本地数据库，仍使用 {current}。如必须回退：先让 {current} "
        "同步完待上传的数据并关闭，再用 clinic local-data restore 恢复升级前的备份（{backups}），然后回退。{detail}",
        "en": "{version} cannot open the local database as {current} migrated it; {current} stays current. "
        "To go back anyway: let {current} sync its pending work and close it, restore the pre-update backup "
        "({backups}) with clinic local-data restore, then roll back. {detail}",
        "zh_TW": "{version} 無法打開已被 {current} 升級的本地數據庫，仍使用 {current}。如必須回退：先讓 {current} "
        "同步完待上傳的數據並關閉，再用 clinic local-data restore 恢復升級前的備份（{backups}），然後回退。{detail}",
    },
    "update.rollback_done": {
        "zh_CN": "已回退到 {version}",
        "en": "Rolled back to {version}",
        "zh_TW": "已回退到 {version}",
    },
}

for _key, _texts in _TEXTS.items():
    register(_key, _texts)
