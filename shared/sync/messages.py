"""The sync engine's user-facing messages, registered in the one translation catalog."""

from __future__ import annotations

from shared.i18n import register

_MESSAGES: dict[str, dict[str, str]] = {
    "sync.offline": {
        "zh_CN": "无法连接服务器，正在离线工作；恢复连接后自动上传（{error}）",
        "en": "Server unreachable; working offline, changes upload automatically when it is back ({error})",
        "zh_TW": "無法連接伺服器，正在離線工作；恢復連接後自動上傳（{error}）",
    },
    "sync.auth_expired": {
        "zh_CN": "登录已失效，可继续工作；重新登录后将上传 {pending} 条更改",
        "en": "Your login is no longer valid; keep working, {pending} changes upload after you log in again",
        "zh_TW": "登錄已失效，可繼續工作；重新登錄後將上傳 {pending} 條更改",
    },
    "sync.not_logged_in": {
        "zh_CN": "尚未登录",
        "en": "Not logged in",
        "zh_TW": "尚未登錄",
    },
    "sync.clock_skew": {
        "zh_CN": "本机时间与服务器相差约 {minutes} 分钟，请校准系统时间（同步不受影响）",
        "en": "This PC's clock is about {minutes} minutes off the server's; please correct it (sync is not affected)",
        "zh_TW": "本機時間與伺服器相差約 {minutes} 分鐘，請校準系統時間（同步不受影響）",
    },
    "sync.held_for_other": {
        "zh_CN": "{count} 条更改由其他人员在本机记录，需其本人登录后上传",
        "en": "{count} changes recorded on this PC by another user wait for that user to log in",
        "zh_TW": "{count} 條更改由其他人員在本機記錄，需其本人登錄後上傳",
    },
    "sync.resetting": {
        "zh_CN": "服务器要求本机重新下载数据：先上传本机更改，再重新初始化",
        "en": "The server asks this PC to download its data again: uploading local changes first",
        "zh_TW": "伺服器要求本機重新下載資料：先上傳本機更改，再重新初始化",
    },
    "sync.bootstrapping": {
        "zh_CN": "正在下载数据：{done}/{total}",
        "en": "Downloading data: {done}/{total}",
        "zh_TW": "正在下載資料：{done}/{total}",
    },
    "sync.no_keyring": {
        "zh_CN": "本机没有可用的系统密钥环，登录状态无法在重启后保留：{detail}",
        "en": "No usable OS keyring on this PC, so the login is not kept across restarts: {detail}",
        "zh_TW": "本機沒有可用的系統密鑰環，登錄狀態無法在重啟後保留：{detail}",
    },
    "sync.problem": {
        "zh_CN": "同步出错，将稍后重试：{error}",
        "en": "Sync problem; retrying later: {error}",
        "zh_TW": "同步出錯，將稍後重試：{error}",
    },
}

for _key, _texts in _MESSAGES.items():
    register(_key, _texts)
