"""Question wording for each relation and attribute of the default schema.

Kept apart from the generator so the logic (which paths are unique, which evidence proves them)
never depends on wording. Custom relations fall back to generic phrases built from their names.
"""

from __future__ import annotations

from searchgym.corpus.templates import words

# A functional step read forward: "the <noun> of X" names the unique target of X.
FORWARD_NOUNS: dict[str, str] = {
    "located_in": "the country in which {x} is located",
    "capital_of": "the country whose capital is {x}",
    "born_in": "the birthplace of {x}",
    "educated_at": "the university {x} attended",
    "works_for": "the employer of {x}",
    "married_to": "the spouse of {x}",
    "headquartered_in": "the city where {x} is headquartered",
    "founded_by": "the founder of {x}",
    "university_located_in": "the city where {x} is located",
    "directed_by": "the director of {x}",
    "produced_by": "the studio that produced {x}",
}
# An inverse-functional relation read backwards: the unique source of X.
INVERSE_NOUNS: dict[str, str] = {
    "mentor_of": "the mentor of {x}",
    "capital_of": "the capital of {x}",
    "married_to": "the spouse of {x}",
}
# Final questions for entity answers (a forward or inverse step).
FORWARD_QUESTIONS: dict[str, str] = {
    "located_in": "In which country is {x} located?",
    "capital_of": "Of which country is {x} the capital?",
    "born_in": "In which city was {x} born?",
    "educated_at": "At which university did {x} study?",
    "works_for": "Which organization does {x} work for?",
    "married_to": "Who is {x} married to?",
    "headquartered_in": "In which city is {x} headquartered?",
    "founded_by": "Who founded {x}?",
    "university_located_in": "In which city is {x} located?",
    "directed_by": "Who directed {x}?",
    "produced_by": "Which studio produced {x}?",
}
INVERSE_QUESTIONS: dict[str, str] = {
    "mentor_of": "Who was the mentor of {x}?",
    "capital_of": "What is the capital of {x}?",
    "married_to": "Who is {x} married to?",
}
ATTRIBUTE_QUESTIONS: dict[str, str] = {
    "birth_year": "In which year was {x} born?",
    "height_cm": "How tall is {x}, in centimetres?",
    "occupation": "What is the occupation of {x}?",
    "population": "What is the population of {x}?",
    "population_millions": "What is the population of {x}, in millions?",
    "area_km2": "What is the area of {x} in square kilometres?",
    "founded_year": "In which year was {x} founded?",
    "employees": "How many employees does {x} have?",
    "industry": "In which industry does {x} operate?",
    "students": "How many students does {x} have?",
    "release_year": "In which year was {x} released?",
    "runtime_minutes": "How many minutes does {x} run?",
    "genre": "What is the genre of {x}?",
}
# Bridge nouns: "Which film's <noun> ..." for the first step of a bridge comparison.
BRIDGE_NOUNS: dict[str, str] = {
    "capital_of": "country",
    "located_in": "country",
    "born_in": "birthplace",
    "educated_at": "university",
    "works_for": "employer",
    "married_to": "spouse",
    "headquartered_in": "headquarters city",
    "founded_by": "founder",
    "university_located_in": "city",
    "directed_by": "director",
    "produced_by": "producing studio",
}
# (phrase when the larger value wins, phrase when the smaller value wins)
COMPARISONS: dict[str, tuple[str, str]] = {
    "birth_year": ("was born later", "was born earlier"),
    "founded_year": ("was founded later", "was founded earlier"),
    "release_year": ("was released later", "was released earlier"),
    "population": ("has the larger population", "has the smaller population"),
    "population_millions": ("has the larger population", "has the smaller population"),
    "area_km2": ("is larger in area", "is smaller in area"),
    "height_cm": ("is taller", "is shorter"),
    "employees": ("has more employees", "has fewer employees"),
    "students": ("has more students", "has fewer students"),
    "runtime_minutes": ("is longer", "is shorter"),
}
# Membership filters for intersection questions: "Which person <f1> and <f2>?"
FILTERS: dict[str, str] = {
    "located_in": "is located in {o}",
    "born_in": "was born in {o}",
    "educated_at": "studied at {o}",
    "works_for": "works for {o}",
    "headquartered_in": "is headquartered in {o}",
    "founded_by": "was founded by {o}",
    "university_located_in": "is located in {o}",
    "directed_by": "was directed by {o}",
    "produced_by": "was produced by {o}",
    "stars": "stars {o}",
}
# Counting questions about the sources of a relation pointing at X (or targets, for 1-n).
COUNT_QUESTIONS: dict[str, str] = {
    "located_in": "How many cities are located in {x}?",
    "born_in": "How many people were born in {x}?",
    "educated_at": "How many people studied at {x}?",
    "works_for": "How many people work for {x}?",
    "headquartered_in": "How many organizations are headquartered in {x}?",
    "founded_by": "How many organizations did {x} found?",
    "university_located_in": "How many universities are located in {x}?",
    "directed_by": "How many films did {x} direct?",
    "produced_by": "How many films did {x} produce?",
    "stars": "In how many films did {x} star?",
    "mentor_of": "How many people did {x} mentor?",
}
TYPE_NOUNS: dict[str, str] = {
    "person": "person", "city": "city", "country": "country", "organization": "organization",
    "university": "university", "film": "film",
}
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def forward_noun(relation: str) -> str:
    return FORWARD_NOUNS.get(relation, f"the {words(relation)} of {{x}}")


def inverse_noun(relation: str) -> str:
    return INVERSE_NOUNS.get(relation, f"the entity whose {words(relation)} is {{x}}")


def forward_question(relation: str) -> str:
    return FORWARD_QUESTIONS.get(relation, f"What is the {words(relation)} of {{x}}?")


def inverse_question(relation: str) -> str:
    return INVERSE_QUESTIONS.get(relation, f"Which entity has {{x}} as its {words(relation)}?")


def attribute_question(attribute: str) -> str:
    return ATTRIBUTE_QUESTIONS.get(attribute, f"What is the {words(attribute)} of {{x}}?")


def comparison_phrases(attribute: str) -> tuple[str, str]:
    return COMPARISONS.get(attribute, (f"has the higher {words(attribute)}", f"has the lower {words(attribute)}"))


def filter_phrase(relation: str) -> str:
    return FILTERS.get(relation, f"has {{o}} as its {words(relation)}")


def count_question(relation: str) -> str:
    return COUNT_QUESTIONS.get(relation, f"How many entities are linked to {{x}} by {words(relation)}?")


def type_noun(type_name: str) -> str:
    return TYPE_NOUNS.get(type_name, words(type_name))
