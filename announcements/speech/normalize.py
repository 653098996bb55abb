"""Mandarin notice text made speakable: digits and symbols rewritten as the words a person would say.

eSpeak NG reads digits as it finds them: 2026年 as 二千二十六年, 9:30 as 九 三十, a mobile number as
one huge number, -5℃ as 五. The synthesizer hands it `spoken_zh(text)` instead. cn2an makes the number
words; this module only decides what a run of digits is (a year, a date, a time, a phone number, an
amount, a temperature ...) and so how it is said. Pure functions, no I/O; every rule starts at an Arabic
digit, so the output has none left and normalizing it again changes nothing.

Digit by digit: years with 一 (二零二六年); phone, service and ID numbers, codes after letters (G107)
and runs of 11 or more digits with 幺 for 1, as a telephone operator says them (幺三八…, 幺幺零).
"""

from __future__ import annotations

import re

import cn2an

NORMALIZER_VERSION = "1"
"""Part of every speech cache key: bump it with any change to what this module says, to re-synthesize."""

_WIDE_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")

# What may follow a count for 2 to be said 两 (两个, 两天, 两公斤, 两点), not 二 (二月, 二号, 二楼, 二组).
_LIANG_BEFORE = (
    "个", "位", "名", "人", "户", "辆", "台", "天", "次", "遍", "趟", "只", "头", "匹", "条", "张", "件", "份", "本",
    "把", "根", "支", "瓶", "袋", "箱", "包", "盒", "桶", "块", "元", "角", "毛", "斤", "公斤", "千克", "克", "吨",
    "亩", "公顷", "米", "公里", "千米", "厘米", "毫米", "平方", "立方", "升", "毫升", "小时", "分钟", "秒钟", "周",
    "星期", "个月", "岁", "万", "千", "百", "亿", "点", "间", "栋", "座", "所", "家", "批", "项", "场", "节", "顿",
    "句", "种", "类", "部", "架", "艘", "棵", "株", "片", "套", "对", "双", "副", "倍", "成", "年",
)

# Symbol units after a number, longest first in the pattern. Chinese units (亩, 斤, 公斤) are words already.
_UNITS = {
    "km/h": "公里每小时", "m/s": "米每秒", "km²": "平方公里", "km2": "平方公里", "㎢": "平方公里",
    "m²": "平方米", "m2": "平方米", "㎡": "平方米", "m³": "立方米", "m3": "立方米", "㎥": "立方米",
    "mm": "毫米", "㎜": "毫米", "cm": "厘米", "㎝": "厘米", "km": "公里", "㎞": "公里", "m": "米",
    "kg": "公斤", "㎏": "公斤", "mg": "毫克", "㎎": "毫克", "g": "克", "ml": "毫升", "mL": "毫升", "㎖": "毫升",
    "L": "升", "kWh": "千瓦时", "kW·h": "千瓦时", "kW": "千瓦", "kw": "千瓦", "W": "瓦", "V": "伏",
    "min": "分钟", "h": "小时",
    "℃": "摄氏度", "°C": "摄氏度", "° C": "摄氏度", "℉": "华氏度", "°F": "华氏度", "°": "度",
}
_TEMPERATURES = {"摄氏度", "华氏度", "度"}
_CURRENCIES = {"¥": "元", "￥": "元", "$": "美元", "＄": "美元"}

# Numbers that are dialled, not counted, when no unit or measure word follows (110报警, 拨打12345热线).
_SERVICE = r"110|119|120|122|114|12345|12315|12320|12369|12306|12348|12333|12366|12318|12316|12358|12350|10086|10010|10000|9[56][0-9]{3}"
# After a number, these make it a quantity or a date rather than something dialled.
_QUANTITY_NEXT = (
    r"[0-9.．,:：/／%％‰A-Za-z℃°㎡㎏㎞㎜㎝"
    r"元块角万千百亿人个位名户辆台天次年月日号时点分秒斤亩吨米克岁只头张件份条株棵平立公多余]"
)
# Words after which a number of three or more digits is said digit by digit (电话：6123456, 密码12345678).
_DIAL_WORDS = r"电话|热线|手机|号码|拨打|致电|传真|座机|联系方式|密码|验证码|账号|卡号|编号|工号|单号|邮编|QQ|qq|微信"

_NUM = r"(?:[0-9]{1,3}(?:,[0-9]{3}(?![0-9]))+|[0-9]+)(?:\.[0-9]+)?"
_RANGE = r"[-~～〜—–]|至|到"
_NEG = r"(?<![0-9A-Za-z.)）%])[-−－﹣]"
_UNIT = "|".join(re.escape(unit) for unit in sorted(_UNITS, key=len, reverse=True))
_TIME = r"(?P<h{0}>[01]?[0-9]|2[0-4])[:：](?P<m{0}>[0-5][0-9])(?:[:：](?P<s{0}>[0-5][0-9]))?"
_MONTH, _DAY = r"0?[1-9]|1[0-2]", r"[12][0-9]|3[01]|0?[1-9]"

# One pattern, alternatives in order of priority: at each position the first that matches wins.
_RULES = re.compile(
    rf"""
    (?P<id>(?<![0-9])[0-9]{{17}}[0-9Xx](?![0-9A-Za-z]))
    |(?P<mobile>(?<![0-9])1[3-9][0-9](?:[-\x20]?[0-9]{{4}}){{2}}(?![0-9]))
    |(?P<landline>(?<![0-9])(?:[(（]0[0-9]{{2,3}}[)）]\x20?|0[0-9]{{2,3}}[-\x20])[0-9]{{7,8}}(?![0-9]))
    |(?P<hotline>(?<![0-9])[48]00[-\x20]?[0-9]{{3}}[-\x20]?[0-9]{{4}}(?![0-9]))
    |(?P<service>(?<![0-9.,])(?:{_SERVICE})(?!\s*{_QUANTITY_NEXT}))
    |(?P<dial>(?P<dial_word>(?:{_DIAL_WORDS})[^0-9\n。；;！!？?]{{0,6}}?)(?P<dial_number>(?:[(（]0[0-9]{{2,3}}[)）]\x20?)?[0-9](?:[-\x20]?[0-9]){{2,}})(?!\s*{_QUANTITY_NEXT}))
    |(?P<years>(?<![0-9])(?P<year1>(?:1[89]|20)[0-9]{{2}})\s*(?P<years_to>{_RANGE})\s*(?P<year2>(?:1[89]|20)[0-9]{{2}})(?=\s*学?年))
    |(?P<ymd>(?<![0-9])(?P<ymd_y>(?:1[89]|20)[0-9]{{2}})(?P<ymd_sep>[-/.．／])(?P<ymd_m>{_MONTH})(?P=ymd_sep)(?P<ymd_d>{_DAY})(?![0-9]))
    |(?P<year>(?<![0-9])(?:[0-9]{{4}}(?=\s*年)|[0-9]{{2}}(?=年[0-9]{{1,2}}月)))
    |(?P<md>(?<![0-9.])(?P<md_m>{_MONTH})[./．／](?P<md_d>{_DAY})(?![0-9])(?=\s*(?:日|号|[（(]?\s*(?:周|星期|礼拜))))
    |(?P<time>(?<![0-9:：]){_TIME.format(1)}(?:\s*(?P<time_to>{_RANGE})\s*{_TIME.format(2)})?(?![0-9]))
    |(?P<ratio>(?<![0-9])(?P<ratio_a>[0-9]+)[:：](?P<ratio_b>[0-9]+)(?![0-9]))
    |(?P<times>(?<![0-9])(?P<times_a>{_NUM})\s*[×xX*]\s*(?P<times_b>{_NUM})(?![0-9]))
    |(?P<fraction>(?<![0-9.])(?P<fraction_a>[0-9]+)[/／](?P<fraction_b>[0-9]+)(?![0-9.]))
    |(?P<house>(?<![0-9])(?P<house_n>[0-9]+)\s*[\#＃])
    |(?P<ordinal>第\s*{_NUM}(?:\s*(?:[、,，和及]|{_RANGE})\s*{_NUM})*)
    |(?P<code>(?<=[A-Za-z])[0-9]{{3,}}(?![0-9.]))
    |(?P<quantity>
        (?:(?P<cur>[¥￥$＄])\s*)?
        (?P<neg1>{_NEG})?(?P<n1>{_NUM})(?P<pct1>[%％‰])?(?P<unit1>\s?(?:{_UNIT})(?![A-Za-z]))?
        (?:\s*(?P<to>{_RANGE})\s*(?P<neg2>[-−－﹣])?(?P<n2>{_NUM})(?P<pct2>[%％‰])?)?
        (?P<mag>[万千亿]+)?
        (?P<unit2>\s?(?:{_UNIT})(?![A-Za-z]))?)
    """,
    re.VERBOSE,
)


def spoken_zh(text: str) -> str:
    """Chinese text with every number and number symbol as the words a person says; never raises."""
    return _RULES.sub(_speak, text.translate(_WIDE_DIGITS))


def _speak(match: re.Match[str]) -> str:
    kind = next(name for name in _KINDS if match.group(name) is not None)
    return _KINDS[kind](match)


def _digits(digits: str) -> str:
    """Said digit by digit with 一 (years): 2026 → 二零二六."""
    return cn2an.an2cn(digits, "direct")


def _dialled(number: str) -> str:
    """Said as a number is dialled: digit by digit, 1 as 幺, a pause where the writer grouped digits."""
    groups = re.split(r"[-\x20()（）]+", number)
    return " ".join(_digits(group).replace("一", "幺") for group in groups if group)


def _number(text: str) -> str:
    """An amount in words (1,286 → 一千二百八十六); digit by digit where it is a code (007, 11+ digits)."""
    plain = text.replace(",", "")
    whole, _, fraction = plain.partition(".")
    if len(whole) > 1 and whole.startswith("0"):
        return _digits(plain)
    if len(whole) >= 11:
        words = _dialled(whole)
    else:
        words = cn2an.an2cn(whole)
        words = "两" + words[1:] if words[:2] in ("二千", "二万", "二亿") else words
    return words + ("点" + _digits(fraction) if fraction else "")


def _count(text: str, after: str) -> str:
    """A number before `after`: 2 before a measure word is 两 (两个, 两点), else as `_number`."""
    if text == "2" and after.startswith(_LIANG_BEFORE) and not after.startswith("年级"):
        return "两"
    return _number(text)


def _to(word: str) -> str:
    """A range's joining word: 至 and 到 as written, a dash or tilde as 到."""
    return word if word in ("至", "到") else "到"


def _id(match: re.Match[str]) -> str:
    number = match.group()
    return _dialled(number.rstrip("Xx")) + ("X" if number[-1] in "Xx" else "")


def _phone(match: re.Match[str]) -> str:
    return _dialled(match.group())


def _year(match: re.Match[str]) -> str:
    return _digits(match.group())


def _dial(match: re.Match[str]) -> str:
    return match.group("dial_word") + _dialled(match.group("dial_number"))


def _years(match: re.Match[str]) -> str:
    return _digits(match.group("year1")) + _to(match.group("years_to")) + _digits(match.group("year2"))


def _ymd(match: re.Match[str]) -> str:
    return _digits(match.group("ymd_y")) + "年" + _month_day(match, "ymd")


def _md(match: re.Match[str]) -> str:
    return _month_day(match, "md")


def _month_day(match: re.Match[str], kind: str) -> str:
    """十二月五日, without the 日 when the notice writes 日 or 号 itself (12.5日)."""
    day = "" if match.string.startswith(("日", "号"), match.end()) else "日"
    return f"{_number(str(int(match.group(kind + '_m'))))}月{_number(str(int(match.group(kind + '_d'))))}{day}"


def _clock(match: re.Match[str], which: int) -> str:
    """One time of day: 9:30 → 九点三十分, 14:05 → 十四点零五分, 8:00 → 八点, 2:00 → 两点."""
    spoken = _count(str(int(match.group(f"h{which}"))), "点") + "点"
    for part, unit in ((match.group(f"m{which}"), "分"), (match.group(f"s{which}"), "秒")):
        if part and part != "00":
            spoken += ("零" if part.startswith("0") else "") + _number(str(int(part))) + unit
    return spoken


def _time(match: re.Match[str]) -> str:
    if match.group("time_to") is None:
        return _clock(match, 1)
    return _clock(match, 1) + _to(match.group("time_to")) + _clock(match, 2)


def _ratio(match: re.Match[str]) -> str:
    return _number(match.group("ratio_a")) + "比" + _number(match.group("ratio_b"))


def _times(match: re.Match[str]) -> str:
    return _number(match.group("times_a")) + "乘" + _number(match.group("times_b"))


def _fraction(match: re.Match[str]) -> str:
    above, below = match.group("fraction_a"), match.group("fraction_b")
    if int(below) == 0:
        return _number(above) + "/" + _number(below)
    return _number(below) + "分之" + _number(above)


def _house(match: re.Match[str]) -> str:
    return _number(match.group("house_n")) + "号"


def _ordinal(match: re.Match[str]) -> str:
    """第3组 → 第三组, 第1、2、3组 → 第一、二、三组: ordinals are never 两."""
    spoken = re.sub(_NUM, lambda number: _number(number.group()), match.group("ordinal"))
    return re.sub(r"[-~～〜—–]", "到", spoken)


def _quantity(match: re.Match[str]) -> str:
    """Amounts, ranges, percentages, negatives, money and units: -3~5℃ → 零下三到五摄氏度."""
    unit = _UNITS.get((match.group("unit2") or match.group("unit1") or "").strip(), "")
    mag = match.group("mag") or ""
    after = mag + unit + match.string[match.end() : match.end() + 3]
    before = match.string[max(0, match.start() - 6) : match.start()]
    cold = unit in _TEMPERATURES or after.startswith("度") or "温" in before
    percent = match.group("pct2") or match.group("pct1")

    def end(which: int) -> str:
        number = match.group(f"n{which}")
        words = ("零下" if cold else "负") if match.group(f"neg{which}") else ""
        words += _number(number) if percent else _count(number, after)
        if percent:
            words = ("千分之" if percent == "‰" else "百分之") + words
        own_unit = match.group("unit1") if which == 1 and match.group("n2") else None
        return words + (_UNITS[own_unit.strip()] if own_unit else "")

    spoken = end(1)
    if match.group("n2") is not None:
        spoken += _to(match.group("to")) + end(2)
    currency = _CURRENCIES.get(match.group("cur") or "", "")
    if currency and match.string.startswith(("元", "块", currency), match.end()):
        currency = ""
    return spoken + mag + unit + currency


_KINDS = {
    "id": _id, "mobile": _phone, "landline": _phone, "hotline": _phone, "service": _phone, "dial": _dial,
    "years": _years, "ymd": _ymd, "year": _year, "md": _md, "time": _time, "ratio": _ratio, "times": _times,
    "fraction": _fraction, "house": _house, "ordinal": _ordinal, "code": _phone, "quantity": _quantity,
}
