"""Sentence templates that turn facts into encyclopedia prose.

Several paraphrases per fact type make the corpus less uniform than one template per relation
(an agent cannot learn a single regex), while each sentence still records exactly which facts it
states. Relations or attributes of a custom schema without templates here fall back to a
generic wording built from their names, so any valid schema yields a readable corpus.
"""

from __future__ import annotations

from searchgym.types import Literal

# Subject-side sentences: the fact is stated on the subject's page. {s} subject name, {o} object.
RELATION_TEMPLATES: dict[str, tuple[str, ...]] = {
    "located_in": ("{s} is a city in {o}.", "{s} lies in {o}.", "The city of {s} is part of {o}."),
    "capital_of": ("{s} is the capital of {o}.", "{s} serves as the capital city of {o}."),
    "born_in": ("{s} was born in {o}.", "{s} is a native of {o}, where they were born.", "{s}'s birthplace is {o}."),
    "educated_at": ("{s} studied at {o}.", "{s} was educated at {o}.", "{s} is a graduate of {o}."),
    "works_for": ("{s} works for {o}.", "{s} is employed by {o}.", "{s}'s employer is {o}."),
    "mentor_of": ("{s} mentored {o}.", "{s} was the mentor of {o}."),
    "married_to": ("{s} is married to {o}.", "{s}'s spouse is {o}."),
    "headquartered_in": ("{s} is headquartered in {o}.", "The headquarters of {s} are in {o}."),
    "founded_by": ("{s} was founded by {o}.", "{o} founded {s}.", "The founder of {s} is {o}."),
    "university_located_in": ("{s} is located in {o}.", "{s} has its campus in {o}."),
    "directed_by": ("{s} was directed by {o}.", "{o} directed {s}.", "The director of {s} is {o}."),
    "produced_by": ("{s} was produced by {o}.", "{o} produced {s}.", "{s} is a production of {o}."),
    "stars": ("{s} stars {o}.", "The cast of {s} includes {o}.", "{o} appears in {s}."),
}

# Object-side sentences: on the object's page, listing every subject (complete lists, so counting
# questions are answerable). {o} is the page's entity, {items} the joined subject names.
INVERSE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "located_in": ("The cities of {o} are {items}.", "{o} contains the cities {items}."),
    "capital_of": ("The capital of {o} is {items}.",),
    "born_in": ("The people born in {o} are {items}.", "{o} is the birthplace of {items}."),
    "educated_at": ("The alumni of {o} are {items}.", "{o} educated {items}."),
    "works_for": ("The employees of {o} are {items}.", "{o} employs {items}."),
    "mentor_of": ("The mentor of {o} is {items}.", "{o} was mentored by {items}."),
    "headquartered_in": ("The organizations headquartered in {o} are {items}.",),
    "founded_by": ("{o} founded {items}.", "The organizations founded by {o} are {items}."),
    "university_located_in": ("The universities in {o} are {items}.",),
    "directed_by": ("{o} directed {items}.", "The films directed by {o} are {items}."),
    "produced_by": ("{o} produced {items}.", "The films produced by {o} are {items}."),
    "stars": ("{o} starred in {items}.", "The films starring {o} are {items}."),
}

ATTRIBUTE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "birth_year": ("{s} was born in {v}.", "{s} was born in the year {v}."),
    "height_cm": ("{s} is {v} cm tall.", "{s} has a height of {v} centimetres."),
    "occupation": ("{s} is a {v} by profession.", "{s} works as a {v}."),
    "population": ("{s} has a population of {v}.", "About {v} people live in {s}."),
    "population_millions": ("{s} has a population of {v} million.", "{v} million people live in {s}."),
    "area_km2": ("{s} covers an area of {v} square kilometres.", "The area of {s} is {v} km2."),
    "founded_year": ("{s} was founded in {v}.", "{s} was established in {v}."),
    "employees": ("{s} employs {v} people.", "{s} has {v} employees."),
    "industry": ("{s} operates in the {v} industry.", "{s} is a {v} business."),
    "students": ("{s} enrolls {v} students.", "{s} has {v} students."),
    "release_year": ("{s} was released in {v}.", "{s} premiered in {v}."),
    "runtime_minutes": ("{s} runs for {v} minutes.", "The running time of {s} is {v} minutes."),
    "genre": ("{s} is a {v} film.", "{s} belongs to the {v} genre."),
}

TYPE_LEADS: dict[str, tuple[str, ...]] = {
    "country": ("{s} is a sovereign country.",),
    "city": ("{s} is a city.",),
    "person": ("{s} is a person listed in this encyclopedia.",),
    "organization": ("{s} is an organization.",),
    "university": ("{s} is a university.",),
    "film": ("{s} is a feature film.",),
}

DISTRACTOR_TEMPLATES: tuple[str, ...] = (
    "In {year}, {a} and {b} attended the {event} in {place}, where the talks drew a large crowd.",
    "A {year} review in the {paper} compared {a} with {b}, without reaching a verdict.",
    "{a} gave a lecture on {topic} in {place} in {year}; {b} was reported to be in the audience.",
    "The {event} of {year} in {place} featured an exhibition about {a}, curated with help from {b}.",
)
DISTRACTOR_EVENTS = ("Autumn Festival", "Lantern Fair", "Spring Symposium", "Harbour Congress", "Winter Salon")
DISTRACTOR_PAPERS = ("Evening Courier", "Northern Gazette", "Weekly Ledger", "Meridian Review")
DISTRACTOR_TOPICS = ("river trade", "glass making", "early cinema", "bridge design", "folk music", "cartography")


def words(identifier: str) -> str:
    return identifier.replace("_", " ")


def relation_templates(relation: str) -> tuple[str, ...]:
    return RELATION_TEMPLATES.get(relation, (f"The {words(relation)} of {{s}} is {{o}}.",))


def inverse_templates(relation: str) -> tuple[str, ...]:
    return INVERSE_TEMPLATES.get(relation, (f"{{o}} is the {words(relation)} of {{items}}.",))


def attribute_templates(attribute: str) -> tuple[str, ...]:
    return ATTRIBUTE_TEMPLATES.get(attribute, (f"The {words(attribute)} of {{s}} is {{v}}.",))


def format_value(value: Literal) -> str:
    """How a literal is written in prose: thousands separators for big numbers, not for years."""
    if isinstance(value, int) and value >= 10000:
        return f"{value:,}"
    return str(value)


def join_names(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]
