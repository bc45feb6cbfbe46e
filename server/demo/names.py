"""Word lists the demo draws people, companies and addresses from."""

from __future__ import annotations

__all__ = [
    "FIRST_NAMES",
    "LAST_NAMES",
    "LEGAL_FORMS",
    "STREETS",
    "TITLES",
    "TRADES",
    "ascii_slug",
]

FIRST_NAMES = (
    "Anna", "Lena", "Julia", "Laura", "Sarah", "Lisa", "Katharina", "Sophie", "Marie", "Hannah",
    "Leonie", "Johanna", "Miriam", "Nina", "Sabine", "Claudia", "Petra", "Andrea", "Monika",
    "Ayşe", "Elif", "Agnieszka", "Olga", "Chiara", "Lukas", "Jonas", "Leon", "Felix", "Maximilian",
    "Paul", "Tim", "Jan", "Niklas", "Tobias", "Stefan", "Michael", "Thomas", "Andreas", "Markus",
    "Christian", "Daniel", "Sebastian", "Florian", "Matthias", "Alexander", "Martin", "Frank",
    "Jürgen", "Uwe", "Mehmet", "Emre", "Piotr", "Tomasz", "Dmitri", "Luca", "Marco", "Jean",
)  # fmt: skip

LAST_NAMES = (
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt",
    "Werner", "Schmitz", "Krause", "Meier", "Lehmann", "Schmid", "Schulze", "Maier", "Köhler",
    "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang",
    "Scholz", "Möller", "Weiß", "Jung", "Hahn", "Schubert", "Vogel", "Friedrich", "Keller",
    "Günther", "Frank", "Berger", "Winkler", "Roth", "Beck", "Lorenz", "Baumann", "Franke",
    "Albrecht", "Schuster", "Simon", "Ludwig", "Böhm", "Winter", "Kraus", "Martin", "Schumacher",
    "Yilmaz", "Kaya", "Nowak", "Kowalski", "Rossi", "Petrović", "Ivanov",
)  # fmt: skip

TRADES = (
    "Haustechnik", "Metallbau", "Elektrotechnik", "Bau", "Holzbau", "Sanitär", "Maschinenbau",
    "Dachdeckerei", "Kfz-Technik", "Werkzeugbau", "Logistik", "Landtechnik", "Fensterbau",
    "Stahlbau", "Tischlerei", "Gerüstbau", "Industrieservice", "Anlagenbau", "Klimatechnik",
    "Schlosserei", "Malerbetrieb", "Bodenbeläge", "Gebäudeservice", "Hallenbau", "Blechtechnik",
    "Montagebau", "Fördertechnik", "Heizungsbau", "Zimmerei", "Trockenbau",
)  # fmt: skip

LEGAL_FORMS = ("GmbH", "GmbH", "GmbH", "GmbH & Co. KG", "GmbH & Co. KG", "AG", "KG", "e.K.", "OHG")

STREETS = (
    "Hauptstraße", "Bahnhofstraße", "Industriestraße", "Gewerbestraße", "Schulstraße",
    "Gartenstraße", "Lindenstraße", "Bergstraße", "Kirchstraße", "Am Hafen", "Mühlenweg",
    "Im Gewerbepark", "Robert-Bosch-Straße", "Carl-Benz-Straße", "Siemensstraße",
    "Max-Planck-Straße", "Daimlerstraße", "Friedrichstraße", "Wilhelmstraße", "Ringstraße",
    "Waldstraße", "Feldstraße", "Poststraße", "Marktplatz", "Goethestraße", "Schillerstraße",
    "Hafenstraße", "Werkstraße", "Otto-Hahn-Straße", "Rudolf-Diesel-Straße", "An der Autobahn",
    "Zum Gewerbegebiet", "Handwerkerstraße", "Raiffeisenstraße", "Dieselstraße", "Europaallee",
)  # fmt: skip

TITLES = (
    "Geschäftsführer",
    "Einkaufsleitung",
    "Einkauf",
    "Werkstattleitung",
    "Betriebsleitung",
    "Lagerleitung",
    "Projektleitung",
    "Inhaber",
)

_TRANSLITERATION = str.maketrans(
    {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ş": "s", "ć": "c", "é": "e", "è": "e"}
)


def ascii_slug(text: str, sep: str = "-") -> str:
    lowered = text.lower().translate(_TRANSLITERATION)
    out = [ch if ch.isascii() and ch.isalnum() else " " for ch in lowered]
    return sep.join("".join(out).split())
