"""The house's function words, English and Russian (NLTK's Russian list plus question and modal words):
left out of lexical terms and `assoc` co-occurrence whatever the passage's language, because they go with
everything and so explain nothing. Other languages add bm25s' lists (`language.py`)."""

from __future__ import annotations

STOPWORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before being below
    between both but by can could did do does doing down during each few for from further had has have having
    he her here hers herself him himself his how i if in into is it its itself just me more most my myself no
    nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up very
    was we were what when where which while who whom why will with would you your yours yourself yourselves
    s t one two first many may might must shall upon within without among since though however including
    known used called became become like well much often
    и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только ее мне было вот от
    меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни быть был него до вас нибудь опять уж
    вам ведь там потом себя ничего ей может они тут где есть надо ней для мы тебя их чем была сам чтоб без
    будто чего раз тоже себе под будет ж тогда кто этот того потому этого какой совсем ним здесь этом один
    почти мой тем чтобы нее были куда зачем всех никогда можно при наконец два об другой хоть после над
    больше тот через эти нас про всего них какая много разве три эту моя впрочем хорошо свою этой перед
    иногда лучше чуть том нельзя такой им более всегда конечно всю между это
    сколько скольких скольким сколькими какие каков какова каково каковы нужно нужен нужна нужны должен
    должна должно должны который
    которая которое которые которых которой также очень чему кого ком весь вся всё свой своя своё свои
    """.split()
)

# Words that phrase a request rather than name its topic ("Tell me about X.", "Briefly, what is X?", "Give me
# a short description of X.", "What do you know about X?", "Расскажи про X."): left out of a question's
# terms (`lexical.question_terms`), so they neither lower the share of it that a passage on X holds (and with
# it the graph's trust) nor find passages by themselves. Passages keep them: only questions leave them out.
REQUEST_WORDS = frozenset(
    """
    tell explain explaining explanation describe describing description briefly brief short shortly quick
    quickly summary summarise summarize overview define definition know please kindly give sentence sentences
    paragraph word words answer reply respond fact facts interesting mean simply
    расскажи расскажите объясни объясните опиши опишите кратко коротко вкратце знаешь знаете скажи скажите
    пожалуйста такое
    """.split()
)
