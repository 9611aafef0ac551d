"""The hub's messages for people, in every language, registered in the one catalog (``shared.i18n``)."""

from __future__ import annotations

from shared.i18n import register

register(
    "hub.central_unreachable",
    {
        "zh_CN": "暂时连不上中心服务器，本诊所的集线服务器（hub）无法单独完成此操作，请稍后重试",
        "en": "The central server cannot be reached now; the clinic hub cannot do this on its own. Try again later",
        "zh_TW": "暫時連不上中心伺服器，本診所的集線伺服器（hub）無法單獨完成此操作，請稍後重試",
    },
)
register(
    "hub.not_this_campus",
    {
        "zh_CN": "该账户未分配到院区 {campus}，不能在本诊所的集线服务器登录",
        "en": "This account is not assigned to campus {campus}; it cannot log in at this clinic's hub",
        "zh_TW": "該賬戶未分配到院區 {campus}，不能在本診所的集線伺服器登錄",
    },
)
register(
    "hub.unknown_session",
    {
        "zh_CN": "中心服务器暂时无法连接，而本诊所的集线服务器不认识这次登录，请重新登录",
        "en": "The central server cannot be reached and the clinic hub does not know this login; please log in again",
        "zh_TW": "中心伺服器暫時無法連接，而本診所的集線伺服器不認識這次登錄，請重新登錄",
    },
)
register(
    "hub.no_offline_login",
    {
        "zh_CN": "暂时连不上中心服务器，本诊所的中转服务器没有您近期的登录记录，无法替中心核对密码",
        "en": "The central server cannot be reached, and the clinic hub has no recent login of yours to check the password against",
        "zh_TW": "暫時連不上中心伺服器，本診所的中轉伺服器沒有您近期的登錄記錄，無法替中心核對密碼",
    },
)
register(
    "hub.queue_needs_central",
    {
        "zh_CN": "暂时连不上中心服务器：排队号和当天的叫号顺序只能由中心服务器确定，请到分诊台签到",
        "en": "The central server cannot be reached now: queue numbers and today's order come from it only. Please check in at the triage desk",
        "zh_TW": "暫時連不上中心伺服器：排隊號和當天的叫號順序只能由中心伺服器確定，請到分診台簽到",
    },
)
