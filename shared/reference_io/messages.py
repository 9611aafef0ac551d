"""Why an import refuses a row, in the reader's language: the administration window and the import
endpoint show them in Chinese, ``clinic import`` prints English. Field names stay as the files name them
(``price``, ``default_route``): they are what a mapping file refers to."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.i18n import register, tr

_TEXTS: dict[str, tuple[str, str, str]] = {
    # key: (en, zh_CN, zh_TW); the English is what ``clinic import`` has always printed
    "not_yes_no": (
        "{field}: {text!r} is not yes/no (1/0, 是/否)",
        "{field}：{text!r} 不是 是/否（1/0）",
        "{field}：{text!r} 不是 是/否（1/0）",
    ),  # fmt: skip
    "no_code": ("no code", "没有编码", "沒有編碼"),
    "out_of_range": (
        "{field}: {value} is out of range",
        "{field}：{value} 超出范围",
        "{field}：{value} 超出範圍",
    ),
    "duplicate": (
        "duplicate code {code}: already in row {row}",
        "编码 {code} 重复：第 {row} 行已有",
        "編碼 {code} 重複：第 {row} 列已有",
    ),  # fmt: skip
    "no_codes": (
        "{field}: no {other} codes to check {value!r} against",
        "{field}：没有可核对 {value!r} 的{other}编码",
        "{field}：沒有可核對 {value!r} 的{other}編碼",
    ),  # fmt: skip
    "unknown_code": (
        "{field}: unknown {other} code {value!r}",
        "{field}：未知的{other}编码 {value!r}",
        "{field}：未知的{other}編碼 {value!r}",
    ),  # fmt: skip
    "no_fields": (
        "{kind} has no fields {fields}",
        "{kind}没有这些字段：{fields}",
        "{kind}沒有這些欄位：{fields}",
    ),
    "given": (" (given {given!r})", "（填写的是 {given!r}）", "（填寫的是 {given!r}）"),
    # pydantic's error types, the ones a HIS export actually runs into
    "missing": ("Field required", "必填，不能为空", "必填，不能為空"),
    "number": ("Input should be a valid number", "应为数字", "應為數字"),
    "integer": ("Input should be a valid integer", "应为整数", "應為整數"),
    "greater_than": ("Input should be greater than {gt}", "应大于 {gt}", "應大於 {gt}"),
    "greater_than_equal": ("Input should be greater than or equal to {ge}", "应不小于 {ge}", "應不小於 {ge}"),
    "too_long": (
        "String should have at most {max_length} characters",
        "最多 {max_length} 个字",
        "最多 {max_length} 個字",
    ),  # fmt: skip
    "one_of": ("Input should be {expected}", "应为以下之一：{expected}", "應為以下之一：{expected}"),
}
# what is wrong with a whole file, by the error's code: a headline before the detail
_FILE_PROBLEMS: dict[str, tuple[str, str, str]] = {
    "bad_mapping": (
        "The column mapping does not fit the file",
        "列映射文件与数据文件不符",
        "欄位對應檔與資料檔案不符",
    ),
    "bad_encoding": ("The file's text encoding is not readable", "文件编码无法识别", "檔案編碼無法識別"),
    "empty_file": ("The file is empty", "文件是空的", "檔案是空的"),
    "bad_file": (
        "Not a readable CSV or workbook file",
        "不是可读取的 CSV 或 Excel 文件",
        "不是可讀取的 CSV 或 Excel 檔案",
    ),
    "bad_sheet": ("No such sheet in the workbook", "工作簿中没有该工作表", "活頁簿中沒有該工作表"),
    "bad_header": ("The first row must name the columns", "第一行应为列名", "第一列應為欄名"),
    "too_large": ("The file is too large", "文件过大", "檔案過大"),
}
# the kinds a row names by code, as a reader calls them
_KINDS: dict[str, tuple[str, str, str]] = {
    "campus": ("campus", "院区", "院區"),
    "department": ("department", "科室", "科室"),
    "room": ("room", "诊室", "診室"),
    "route": ("route", "给药途径", "給藥途徑"),
    "frequency": ("frequency", "用药频次", "用藥頻次"),
}
for _key, (_en, _zh, _tw) in _TEXTS.items():
    register(f"import.{_key}", {"en": _en, "zh_CN": _zh, "zh_TW": _tw})
for _key, (_en, _zh, _tw) in _FILE_PROBLEMS.items():
    register(f"import.file.{_key}", {"en": _en, "zh_CN": _zh, "zh_TW": _tw})
for _key, (_en, _zh, _tw) in _KINDS.items():
    register(f"import.kind.{_key}", {"en": _en, "zh_CN": _zh, "zh_TW": _tw})

_TYPES = {
    "missing": "missing",
    "decimal_parsing": "number",
    "float_parsing": "number",
    "decimal_type": "number",
    "int_parsing": "integer",
    "int_from_float": "integer",
    "greater_than": "greater_than",
    "greater_than_equal": "greater_than_equal",
    "string_too_long": "too_long",
    "literal_error": "one_of",
}


def say(key: str, lang: str, **params: Any) -> str:
    return tr(f"import.{key}", lang, **params)


def kind_label(kind: str, lang: str) -> str:
    text = tr(f"import.kind.{kind}", lang)
    return kind if text == f"import.kind.{kind}" else text


def explain(error: ValidationError, lang: str) -> str:
    """A row's validation errors, one ``field: what`` per problem."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(p) for p in problem["loc"]) or "row"
        given = problem.get("input")
        shown = "" if isinstance(given, dict) else say("given", lang, given=given)
        known = _TYPES.get(problem["type"])
        what = say(known, lang, **problem.get("ctx", {})) if known and lang != "en" else problem["msg"]
        parts.append(f"{where}{': ' if lang == 'en' else '：'}{what}{shown}")
    return "; ".join(parts)


def file_problem(code: str, detail: str, lang: str) -> str:
    """A whole-file refusal for a reader of ``lang``: a translated headline, then the detail (which names
    the file, column or sheet) as the reading code gave it."""
    if code not in _FILE_PROBLEMS:
        return detail
    return f"{say(f'file.{code}', lang)}{': ' if lang == 'en' else '：'}{detail}"
