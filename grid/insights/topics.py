"""Emerging topics: words and phrases rising in petition text, per street.

Pure Python/pandas/numpy (no database). Text is segmented once into *document* term sets and
cached as counts per group (street × week: :func:`term_counts`); the weekly comparison then only
reads counts (:func:`rising_terms`, :func:`emerging_topics`), vectorised over the vocabulary.

Segmentation (:class:`Segmenter`)
---------------------------------
jieba (precise mode, no HMM: deterministic, faster, and unknown-word guesses are not needed for
counting) with a dedicated ``jieba.Tokenizer`` and a small domain dictionary
(:data:`DOMAIN_WORDS`: 飞线充电, 电动车, 充电桩, 占道经营, 暖气 ...) so that governance phrases stay
whole. A run of single characters that are not grammar (飞/线 where the dictionary lacks 飞线)
is kept as one word: that is how an unknown new word comes out of jieba. Kept: tokens of >= 2
characters with at least one CJK character or letter, not a stopword (:data:`STOPWORDS`:
function words and the hotline's boilerplate such as 市民/来电/反映/希望/相关部门), not a number,
not a place (the gazetteer's names given as ``place_names``, and tokens ending like a place:
路/街/胡同/小区/家园/北里/...: a place rising is a hotspot or a repeat place, the other detectors'
business). Each document also contributes its **word bigrams**: two kept tokens adjacent in
the text, joined (增设 + 充电桩 → 增设充电桩; 飞线 + 充电 → 飞线充电), so a phrase that jieba
splits still surfaces as a term (on the 双井 sample 飞线充电 is found without the domain
dictionary too). A document counts once per term (document frequency): a resident repeating a
word does not make it a trend. Identical texts are segmented once.

Rising terms (:func:`rising_terms`)
-----------------------------------
Per term, the share of documents containing it in the recent period is compared with the
baseline period by the **log-odds ratio with an informative Dirichlet prior** (Monroe, Colaresi &
Quinn 2008, "Fightin' Words", §3.5.1), on document counts: with ``y`` documents containing the
term out of ``N``, and a prior of ``a0`` pseudo-documents at the pooled share ``π`` (``a = a0·π``
containing, ``b = a0·(1-π)`` not),

    δ = log((y_r + a) / (N_r - y_r + b)) - log((y_b + a) / (N_b - y_b + b))
    σ² ≈ 1/(y_r + a) + 1/(N_r - y_r + b) + 1/(y_b + a) + 1/(N_b - y_b + b),   z = δ / σ.

The prior shrinks rare terms towards "no change" (a word seen twice is not a 10x rise), the
z-score accounts for the counts behind a share (a frequent word rising by 30% can matter more
than a rare one doubling). A term is flagged when ``z >= z_min``, the share ratio >= ``ratio_min``
and it is in >= ``min_docs`` recent documents: the z-score alone flags tiny but very certain
shifts of boilerplate words in a large city.

Optionally (``strata``: counts per category as well) the baseline is **re-weighted to the recent
category mix**, so that a word rising only because its category is in season (暖气 in December)
is not an emerging topic: the seasonal volume is the surge detector's business; a topic is a
phrase rising *within* the categories.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from grid.errors import InputError

__all__ = [
    "DOMAIN_WORDS",
    "STOPWORDS",
    "Segmenter",
    "default_segmenter",
    "emerging_topics",
    "rising_terms",
    "term_counts",
]

FloatArray = npt.NDArray[np.float64]

#: governance words and phrases kept whole (jieba would split several of them)
DOMAIN_WORDS: Final = (
    "飞线充电", "私拉电线", "电动车", "电瓶车", "电动自行车", "充电桩", "充电设施", "楼道充电", "电动车充电",
    "噪音", "扰民", "噪音扰民", "施工噪音", "夜间施工", "装修噪音", "广场舞",
    "占道经营", "游商", "摆摊", "小广告", "乱停乱放", "占道停车", "停车难", "僵尸车", "共享单车",
    "暖气", "供暖", "暖气不热", "室温", "漏水", "跑水", "停水", "水压", "停电", "燃气", "煤气味",
    "垃圾", "垃圾分类", "垃圾桶站", "厨余垃圾", "暴露垃圾", "垃圾清运", "大件垃圾", "建筑垃圾",
    "扬尘", "油烟", "烧烤", "异味", "下水道", "化粪池", "积水", "污水外溢",
    "违建", "违章建筑", "私搭乱建", "群租", "隔断房", "高空抛物", "楼道堆物", "消防通道", "消防隐患",
    "电梯", "电梯故障", "困电梯", "加装电梯", "老旧小区", "抗震加固", "物业费", "业委会", "门禁",
    "井盖", "路灯", "树木倒伏", "断枝", "流浪猫", "流浪狗", "遛狗", "外卖", "快递柜", "欠薪",
)  # fmt: skip

#: function words and the boilerplate of hotline records (in every period alike)
_STOP_TEXT: Final = (
    "市民 来电 来电人 来电人称 反映 咨询 投诉 举报 求助 建议 希望 要求 请求 相关 部门 相关部门 有关部门 有关 "
    "尽快 处理 解决 核实 答复 管一管 帮助 依法 查处 整改 谢谢 麻烦 一下 请问 问题 情况 现象 表示 "
    "称 我们 你们 他们 自己 这个 那个 这里 那里 这些 那些 什么 怎么 怎么办 如何 为什么 是否 能不能 "
    "可以 需要 没有 已经 一直 之前 现在 目前 每天 经常 总是 还是 但是 而且 因为 所以 如果 虽然 "
    "就是 还有 以及 非常 特别 比较 十分 严重 很多 不少 好几 几次 多次 好几次 一次 两次 时间 时候 "
    "附近 旁边 门口 楼下 楼上 小区 号楼 单元 我家 家里 住户 居民 邻居 业主 社区 街道 北京 北京市 "
    "朝阳 朝阳区 区域 "
)
STOPWORDS: Final = frozenset(_STOP_TEXT.split())

_TOKEN: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fffA-Za-z]")
_CJK: Final = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
#: the end of a place name (a token of >= 3 characters ending so is a place, not a topic)
_PLACE: Final = re.compile(
    r"(?:路|街|胡同|巷|[东南西北]里|小区|家园|公寓|花园|新村|号院|大厦|国际|交叉口|[东南西北]门)$"
)
#: single characters that are grammar, not part of an unknown word
_FUNCTION_CHARS: Final = frozenset(
    "的了在是有和与及或就都也还又很太不没把被从向到给让对为以于等着过吗呢吧啊呀我你他她它们这那个些"
)
_NUMBER: Final = re.compile(r"^[\d.,%]+$|^[零〇一二两三四五六七八九十百千万]+$")


class Segmenter:
    """jieba with the domain dictionary and the term rules of the module docstring.

    ``extra_words``: more phrases to keep whole; ``stopwords``: replaces :data:`STOPWORDS`;
    ``bigrams``: also count adjacent word pairs; ``place_names``: names of places (compounds,
    roads, landmarks: the gazetteer), segmented whole and dropped, like every token that looks
    like a place (ends in 路/街/胡同/小区/家园/北里 ...): a place rising is a hotspot or a repeat
    place, found by those detectors, not a topic.
    """

    def __init__(
        self,
        extra_words: Iterable[str] = (),
        *,
        stopwords: Iterable[str] | None = None,
        bigrams: bool = True,
        domain_words: Iterable[str] = DOMAIN_WORDS,
        place_names: Iterable[str] = (),
    ) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." lines
        self._tk = jieba.Tokenizer()
        self._tk.initialize()
        places = frozenset(p.strip() for p in place_names if p and len(p.strip()) >= 2)
        for w in (*domain_words, *extra_words, *places):
            self._tk.add_word(w, freq=max(int(self._tk.suggest_freq(w, False)), 1000))
        self.stopwords = frozenset(STOPWORDS if stopwords is None else stopwords) | places
        self.bigrams = bigrams

    def tokens(self, text: str) -> list[str | None]:
        """The token sequence: kept words, ``None`` where a dropped token breaks adjacency."""
        text = unicodedata.normalize("NFKC", text)
        raw = [t.strip() for t in self._tk.cut(text, HMM=False)]
        # a run of single Chinese characters is usually a word the dictionary does not know
        # (飞/线 of 飞线充电 without the domain dictionary): keep the run as one word
        merged: list[str] = []
        run: list[str] = []
        for t in [*raw, ""]:
            if len(t) == 1 and _CJK.match(t) and t not in _FUNCTION_CHARS:
                run.append(t)
                continue
            if run:
                merged.append("".join(run) if len(run) > 1 else run[0])
                run = []
            if t:
                merged.append(t)
        out: list[str | None] = []
        for t in merged:
            keep = (
                len(t) >= 2
                and bool(_TOKEN.search(t))
                and not _NUMBER.match(t)
                and t not in self.stopwords
                and not (len(t) >= 3 and _PLACE.search(t))
            )
            out.append(t if keep else None)
        return out

    def terms(self, text: str) -> set[str]:
        """The set of terms of one document: kept words, and their adjacent pairs (joined)."""
        toks = self.tokens(text)
        words = {t for t in toks if t is not None}
        if self.bigrams:
            pairs = (a + b for a, b in itertools.pairwise(toks) if a is not None and b is not None)
            words.update(p for p in pairs if not _PLACE.search(p))
        return words


_DEFAULT: Segmenter | None = None


def default_segmenter() -> Segmenter:
    """A shared :class:`Segmenter` with the default dictionary (built on first use, ~1-5 s)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Segmenter()
    return _DEFAULT


def term_counts(
    texts: Iterable[Any],
    groups: pd.Series | pd.DataFrame | Sequence[Hashable],
    *,
    segmenter: Segmenter | None = None,
) -> pd.DataFrame:
    """Document frequency of every term per group: the cache the topic detector reads.

    ``groups``: one key per text (a Series, e.g. ``street_code``; a sequence; or a DataFrame of
    several key columns, e.g. street and ISO week). Missing texts count as empty documents; rows
    whose key has a missing part are left out. Returns the group column(s) (``group`` for an
    unnamed sequence), ``term``, ``docs`` (documents of the group containing the term).
    """
    seg = segmenter or default_segmenter()
    if isinstance(groups, pd.DataFrame):
        gdf = groups.reset_index(drop=True)
    else:
        s = groups if isinstance(groups, pd.Series) else pd.Series(list(groups))
        gdf = s.reset_index(drop=True).to_frame(name=s.name if s.name is not None else "group")
    text_s = pd.Series(list(texts), dtype=object)
    if len(text_s) != len(gdf):
        raise InputError(f"{len(text_s)} texts but {len(gdf)} group keys", code="bad_params")
    ok = gdf.notna().all(axis=1).to_numpy()
    gdf, text_s = gdf[ok].reset_index(drop=True), text_s[ok].reset_index(drop=True)
    gcols = list(gdf.columns)
    if len(gdf) == 0:
        return pd.DataFrame({**{c: [] for c in gcols}, "term": [], "docs": np.zeros(0, dtype=np.int64)})
    g_ix, g_keys = (
        pd.MultiIndex.from_frame(gdf).factorize() if len(gcols) > 1 else pd.factorize(gdf[gcols[0]])
    )
    text_ix, uniq = pd.factorize(text_s.fillna("").astype(str))
    vocab: dict[str, int] = {}
    per_text: list[list[int]] = []
    for t in uniq:
        per_text.append([vocab.setdefault(w, len(vocab)) for w in seg.terms(t)])
    lens = np.fromiter((len(x) for x in per_text), dtype=np.int64, count=len(per_text))
    flat = np.fromiter((i for x in per_text for i in x), dtype=np.int64, count=int(lens.sum()))
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    # documents × their terms, then (group, term) pairs counted
    n_terms = lens[text_ix]
    doc_rep = np.repeat(np.arange(len(text_ix)), n_terms)
    pos = np.arange(int(n_terms.sum())) - np.repeat(np.cumsum(n_terms) - n_terms, n_terms)
    term_ix = flat[starts[text_ix][doc_rep] + pos]
    key = g_ix[doc_rep].astype(np.int64) * max(len(vocab), 1) + term_ix
    uk, cnt = np.unique(key, return_counts=True)
    words = np.empty(len(vocab), dtype=object)
    words[list(vocab.values())] = list(vocab.keys())
    gi = uk // max(len(vocab), 1)
    out: dict[str, Any] = {}
    if len(gcols) > 1:
        keys_arr = np.asarray(list(g_keys), dtype=object)
        for j, c in enumerate(gcols):
            out[c] = [k[j] for k in keys_arr[gi]]
    else:
        out[gcols[0]] = np.asarray(g_keys)[gi]
    out["term"] = words[uk % max(len(vocab), 1)]
    out["docs"] = cnt.astype(np.int64)
    return pd.DataFrame(out)


def _by_term(counts: pd.DataFrame) -> pd.Series:
    if not {"term", "docs"} <= set(counts.columns):
        raise InputError("term counts need 'term' and 'docs' columns", code="bad_params")
    return counts.groupby("term", sort=False)["docs"].sum()


def _reweighted_baseline(
    recent: pd.DataFrame, baseline: pd.DataFrame, n_recent: pd.Series, n_base: pd.Series, strata: str
) -> tuple[pd.Series, float]:
    """Baseline term documents re-weighted to the recent mix of ``strata`` (e.g. category)."""
    share_r = n_recent / n_recent.sum()
    share_b = n_base / n_base.sum()
    w = (share_r / share_b).replace([np.inf, -np.inf], np.nan).fillna(0.0)
    b = baseline.assign(_w=baseline[strata].map(w).fillna(0.0).to_numpy())
    b["docs"] = b["docs"] * b["_w"]
    total = float((n_base * w.reindex(n_base.index).fillna(0.0)).sum())
    return b.groupby("term", sort=False)["docs"].sum(), total


def rising_terms(
    recent: pd.DataFrame,
    baseline: pd.DataFrame,
    *,
    n_recent_docs: float | pd.Series,
    n_baseline_docs: float | pd.Series,
    min_docs: int = 5,
    z_min: float = 3.0,
    ratio_min: float = 1.5,
    prior_docs: float = 10.0,
    strata: str | None = None,
    top: int | None = 20,
    flagged_only: bool = True,
) -> pd.DataFrame:
    """Terms whose document share rose from ``baseline`` to ``recent`` (module docstring).

    ``recent``/``baseline``: term counts (columns ``term``, ``docs``; several rows of one term,
    e.g. of several weeks, are summed). ``n_recent_docs``/``n_baseline_docs``: the number of
    documents behind them. With ``strata`` (a column of the counts, e.g. ``category_code``) the
    document numbers are Series per stratum and the baseline is re-weighted to the recent mix.
    ``prior_docs``: strength of the informative prior (pseudo-documents at the pooled share).

    Returns ``term``, ``recent_docs``, ``baseline_docs``, ``recent_share``, ``baseline_share``,
    ``ratio``, ``log_odds``, ``z``, ``flagged``, sorted by ``z`` (descending), the flagged ones
    only unless ``flagged_only`` is False, at most ``top`` rows (all when ``top`` is None).
    """
    if strata is not None:
        if not isinstance(n_recent_docs, pd.Series) or not isinstance(n_baseline_docs, pd.Series):
            raise InputError("with strata, the document numbers are Series per stratum", code="bad_params")
        yb_s, n_b = _reweighted_baseline(recent, baseline, n_recent_docs, n_baseline_docs, strata)
        n_r = float(n_recent_docs.sum())
    else:
        yb_s = _by_term(baseline)
        n_r, n_b = float(np.sum(n_recent_docs)), float(np.sum(n_baseline_docs))
    yr_s = _by_term(recent)
    if n_r <= 0 or n_b <= 0:
        raise InputError("both periods need documents", code="bad_params")
    terms = yr_s.index.union(yb_s.index)
    yr = yr_s.reindex(terms).fillna(0.0).to_numpy(np.float64)
    yb = yb_s.reindex(terms).fillna(0.0).to_numpy(np.float64)
    yr, yb = np.minimum(yr, n_r), np.minimum(yb, n_b)
    pi = (yr + yb) / (n_r + n_b)
    a = np.maximum(prior_docs * pi, 1e-6)  # a term in every (or no) document stays finite
    b = np.maximum(prior_docs * (1.0 - pi), 1e-6)
    delta = np.log((yr + a) / (n_r - yr + b)) - np.log((yb + a) / (n_b - yb + b))
    var = 1 / (yr + a) + 1 / (n_r - yr + b) + 1 / (yb + a) + 1 / (n_b - yb + b)
    z = delta / np.sqrt(var)
    share_r, share_b = yr / n_r, yb / n_b
    ratio = ((yr + 0.5) / (n_r + 1.0)) / ((yb + 0.5) / (n_b + 1.0))
    flagged = (z >= z_min) & (ratio >= ratio_min) & (yr >= min_docs)
    out = pd.DataFrame(
        {
            "term": np.asarray(terms, dtype=object),
            "recent_docs": yr,
            "baseline_docs": yb,
            "recent_share": share_r,
            "baseline_share": share_b,
            "ratio": ratio,
            "log_odds": delta,
            "z": z,
            "flagged": flagged,
        }
    )
    if flagged_only:
        out = out[out["flagged"]]
    out = out.sort_values(["z", "term"], ascending=[False, True], kind="stable")
    if top is not None:
        out = out.head(top)
    return out.reset_index(drop=True)


def emerging_topics(
    counts: pd.DataFrame,
    n_docs: pd.Series,
    *,
    recent: Sequence[Hashable],
    baseline: Sequence[Hashable],
    group: str = "street_code",
    period: str = "week",
    strata: str | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`rising_terms` for every group (street) from cached counts.

    ``counts``: :func:`term_counts` by ``group`` × ``period`` (× ``strata``); ``n_docs``: the
    number of documents per the same keys (a Series indexed by them, e.g. ``petitions.groupby([
    "street_code", "week"]).size()``). ``recent``/``baseline``: the periods of each side.
    Returns the rising terms with the group column in front (groups without documents on
    either side are skipped).
    """
    keys = [group, period] + ([strata] if strata else [])
    if list(n_docs.index.names) != keys:
        raise InputError(f"n_docs must be indexed by {keys}", code="bad_params")
    rec, base = set(recent), set(baseline)
    c_r = counts[counts[period].isin(rec)]
    c_b = counts[counts[period].isin(base)]
    per = n_docs.index.get_level_values(period)
    nd_r = n_docs[per.isin(rec)]
    nd_b = n_docs[per.isin(base)]
    lv = [group] + ([strata] if strata else [])
    nd_r = nd_r.groupby(level=lv).sum()
    nd_b = nd_b.groupby(level=lv).sum()
    out: list[pd.DataFrame] = []
    cr_g = dict(tuple(c_r.groupby(group, sort=True)))
    cb_g = dict(tuple(c_b.groupby(group, sort=True)))
    for g in sorted(set(cr_g) & set(cb_g)):
        if strata:
            nr: float | pd.Series = nd_r.xs(g, level=group)
            nb: float | pd.Series = nd_b.xs(g, level=group)
        else:
            nr, nb = float(nd_r.get(g, 0.0)), float(nd_b.get(g, 0.0))
        if float(np.sum(nr)) <= 0 or float(np.sum(nb)) <= 0:
            continue
        res = rising_terms(cr_g[g], cb_g[g], n_recent_docs=nr, n_baseline_docs=nb, strata=strata, **kwargs)
        res.insert(0, group, g)
        out.append(res)
    if not out:
        return pd.DataFrame(columns=[group, "term", "recent_docs", "baseline_docs", "z", "flagged"])
    return pd.concat(out, ignore_index=True)
