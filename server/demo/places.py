"""Where the demo world lives: four German sales regions, five cities each, and the towns around
every city that customer accounts cluster on. Coordinates are the real town centres (WGS 84),
postal codes and telephone area codes the real ones, so maps and distances look right.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REGIONS", "Anchor", "City", "RegionSpec"]


@dataclass(frozen=True)
class Anchor:
    """A place accounts cluster on: the city centre, one of its districts, or a nearby town."""

    name: str
    lat: float
    lon: float
    postal_codes: tuple[int, int]
    """Inclusive range of five-digit postal codes handed out around this anchor."""
    spread_km: float = 2.5
    """Standard deviation of the scatter around the anchor."""


@dataclass(frozen=True)
class City:
    code: str
    name: str
    """English name (territory names)."""
    local_name: str
    """The name on a postal address."""
    lat: float
    lon: float
    area_code: str
    anchors: tuple[Anchor, ...]
    cell_radius_km: float = 35.0
    """Outer radius of the territory polygon before neighbouring cities clip it."""


@dataclass(frozen=True)
class RegionSpec:
    code: str
    name: str
    cities: tuple[City, ...]


def _centre(name: str, lat: float, lon: float, codes: tuple[int, int], spread: float) -> Anchor:
    return Anchor(name, lat, lon, codes, spread)


NORTH = RegionSpec(
    "NORTH",
    "North",
    (
        City(
            "HAM",
            "Hamburg",
            "Hamburg",
            53.5511,
            9.9937,
            "40",
            (
                _centre("Hamburg", 53.5511, 9.9937, (20095, 22769), 5.0),
                Anchor("Norderstedt", 53.7064, 9.9897, (22844, 22851)),
                Anchor("Pinneberg", 53.6591, 9.7980, (25421, 25421)),
                Anchor("Ahrensburg", 53.6747, 10.2411, (22926, 22926)),
                Anchor("Buxtehude", 53.4769, 9.7011, (21614, 21614)),
                Anchor("Reinbek", 53.5089, 10.2483, (21465, 21465)),
            ),
        ),
        City(
            "BRE",
            "Bremen",
            "Bremen",
            53.0793,
            8.8017,
            "421",
            (
                _centre("Bremen", 53.0793, 8.8017, (28195, 28779), 4.0),
                Anchor("Delmenhorst", 53.0506, 8.6317, (27749, 27755)),
                Anchor("Achim", 53.0138, 9.0270, (28832, 28832)),
                Anchor("Lilienthal", 53.1423, 8.9031, (28865, 28865)),
                Anchor("Weyhe", 52.9897, 8.8726, (28844, 28844)),
                Anchor("Osterholz-Scharmbeck", 53.2270, 8.7953, (27711, 27711)),
            ),
        ),
        City(
            "HAJ",
            "Hanover",
            "Hannover",
            52.3759,
            9.7320,
            "511",
            (
                _centre("Hannover", 52.3759, 9.7320, (30159, 30669), 3.5),
                Anchor("Langenhagen", 52.4394, 9.7400, (30851, 30855)),
                Anchor("Garbsen", 52.4183, 9.5981, (30823, 30827)),
                Anchor("Laatzen", 52.3077, 9.8133, (30880, 30880)),
                Anchor("Lehrte", 52.3725, 9.9769, (31275, 31275)),
                Anchor("Burgdorf", 52.4459, 10.0059, (31303, 31303)),
            ),
        ),
        City(
            "KEL",
            "Kiel",
            "Kiel",
            54.3233,
            10.1228,
            "431",
            (
                _centre("Kiel", 54.3233, 10.1228, (24103, 24159), 2.0),
                Anchor("Eckernförde", 54.4696, 9.8384, (24340, 24340)),
                Anchor("Preetz", 54.2357, 10.2818, (24211, 24211)),
                Anchor("Neumünster", 54.0714, 9.9900, (24534, 24539)),
                Anchor("Plön", 54.1622, 10.4213, (24306, 24306)),
                Anchor("Rendsburg", 54.3040, 9.6634, (24768, 24768)),
            ),
        ),
        City(
            "LBC",
            "Lübeck",
            "Lübeck",
            53.8655,
            10.6866,
            "451",
            (
                _centre("Lübeck", 53.8655, 10.6866, (23552, 23570), 2.5),
                Anchor("Bad Schwartau", 53.9194, 10.6975, (23611, 23611)),
                Anchor("Ratzeburg", 53.6997, 10.7722, (23909, 23909)),
                Anchor("Bad Oldesloe", 53.8117, 10.3742, (23843, 23843)),
                Anchor("Stockelsdorf", 53.8925, 10.6459, (23617, 23617)),
            ),
        ),
    ),
)

WEST = RegionSpec(
    "WEST",
    "West",
    (
        City(
            "CGN",
            "Cologne",
            "Köln",
            50.9375,
            6.9603,
            "221",
            (
                _centre("Köln", 50.9375, 6.9603, (50667, 51149), 4.0),
                Anchor("Leverkusen", 51.0459, 7.0192, (51371, 51381)),
                Anchor("Bergisch Gladbach", 50.9918, 7.1367, (51427, 51469)),
                Anchor("Hürth", 50.8779, 6.8760, (50354, 50354)),
                Anchor("Frechen", 50.9115, 6.8106, (50226, 50226)),
                Anchor("Brühl", 50.8289, 6.9047, (50321, 50321)),
                Anchor("Bonn", 50.7374, 7.0982, (53111, 53229)),
            ),
        ),
        City(
            "DUS",
            "Düsseldorf",
            "Düsseldorf",
            51.2277,
            6.7735,
            "211",
            (
                _centre("Düsseldorf", 51.2277, 6.7735, (40210, 40629), 3.5),
                Anchor("Neuss", 51.2042, 6.6879, (41460, 41472)),
                Anchor("Ratingen", 51.2973, 6.8493, (40878, 40885)),
                Anchor("Hilden", 51.1714, 6.9394, (40721, 40724)),
                Anchor("Meerbusch", 51.2586, 6.6898, (40667, 40670)),
                Anchor("Krefeld", 51.3388, 6.5853, (47798, 47829)),
            ),
        ),
        City(
            "DTM",
            "Dortmund",
            "Dortmund",
            51.5136,
            7.4653,
            "231",
            (
                _centre("Dortmund", 51.5136, 7.4653, (44135, 44388), 4.0),
                Anchor("Bochum", 51.4818, 7.2162, (44787, 44894)),
                Anchor("Unna", 51.5349, 7.6894, (59423, 59427)),
                Anchor("Lünen", 51.6160, 7.5290, (44532, 44536)),
                Anchor("Schwerte", 51.4436, 7.5650, (58239, 58239)),
                Anchor("Witten", 51.4437, 7.3528, (58452, 58456)),
                Anchor("Hagen", 51.3671, 7.4633, (58089, 58135)),
            ),
        ),
        City(
            "FMO",
            "Münster",
            "Münster",
            51.9607,
            7.6261,
            "251",
            (
                _centre("Münster", 51.9607, 7.6261, (48143, 48167), 3.0),
                Anchor("Greven", 52.0917, 7.6128, (48268, 48268)),
                Anchor("Telgte", 51.9817, 7.7860, (48291, 48291)),
                Anchor("Senden", 51.8570, 7.4830, (48308, 48308)),
                Anchor("Warendorf", 51.9540, 7.9937, (48231, 48231)),
                Anchor("Emsdetten", 52.1733, 7.5270, (48282, 48282)),
            ),
        ),
        City(
            "BFE",
            "Bielefeld",
            "Bielefeld",
            52.0302,
            8.5325,
            "521",
            (
                _centre("Bielefeld", 52.0302, 8.5325, (33602, 33739), 3.0),
                Anchor("Gütersloh", 51.9069, 8.3785, (33330, 33335)),
                Anchor("Herford", 52.1146, 8.6734, (32049, 32052)),
                Anchor("Bad Salzuflen", 52.0875, 8.7506, (32105, 32108)),
                Anchor("Halle (Westf.)", 52.0600, 8.3600, (33790, 33790)),
                Anchor("Oerlinghausen", 51.9553, 8.6617, (33813, 33813)),
            ),
        ),
    ),
)

SOUTH = RegionSpec(
    "SOUTH",
    "South",
    (
        City(
            "MUC",
            "Munich",
            "München",
            48.1351,
            11.5820,
            "89",
            (
                _centre("München", 48.1351, 11.5820, (80331, 81929), 5.0),
                Anchor("Freising", 48.4029, 11.7488, (85354, 85356)),
                Anchor("Dachau", 48.2603, 11.4342, (85221, 85221)),
                Anchor("Erding", 48.3064, 11.9076, (85435, 85435)),
                Anchor("Starnberg", 47.9990, 11.3408, (82319, 82319)),
                Anchor("Fürstenfeldbruck", 48.1779, 11.2556, (82256, 82256)),
                Anchor("Garching", 48.2489, 11.6513, (85748, 85748)),
            ),
        ),
        City(
            "STR",
            "Stuttgart",
            "Stuttgart",
            48.7758,
            9.1829,
            "711",
            (
                _centre("Stuttgart", 48.7758, 9.1829, (70173, 70629), 3.5),
                Anchor("Esslingen am Neckar", 48.7397, 9.3108, (73728, 73734)),
                Anchor("Ludwigsburg", 48.8975, 9.1916, (71634, 71642)),
                Anchor("Böblingen", 48.6833, 9.0167, (71032, 71034)),
                Anchor("Waiblingen", 48.8309, 9.3163, (71332, 71336)),
                Anchor("Sindelfingen", 48.7133, 9.0028, (71063, 71069)),
                Anchor("Leonberg", 48.8000, 9.0167, (71229, 71229)),
            ),
        ),
        City(
            "NUE",
            "Nuremberg",
            "Nürnberg",
            49.4521,
            11.0767,
            "911",
            (
                _centre("Nürnberg", 49.4521, 11.0767, (90402, 90491), 3.5),
                Anchor("Fürth", 49.4774, 10.9886, (90762, 90768)),
                Anchor("Erlangen", 49.5897, 11.0078, (91052, 91058)),
                Anchor("Schwabach", 49.3292, 11.0236, (91126, 91126)),
                Anchor("Lauf an der Pegnitz", 49.5103, 11.2772, (91207, 91207)),
                Anchor("Zirndorf", 49.4419, 10.9543, (90513, 90513)),
            ),
        ),
        City(
            "AGB",
            "Augsburg",
            "Augsburg",
            48.3705,
            10.8978,
            "821",
            (
                _centre("Augsburg", 48.3705, 10.8978, (86150, 86199), 3.0),
                Anchor("Friedberg", 48.3560, 10.9842, (86316, 86316)),
                Anchor("Gersthofen", 48.4242, 10.8788, (86368, 86368)),
                Anchor("Königsbrunn", 48.2688, 10.8908, (86343, 86343)),
                Anchor("Neusäß", 48.4000, 10.8333, (86356, 86356)),
                Anchor("Stadtbergen", 48.3667, 10.8500, (86391, 86391)),
            ),
        ),
        City(
            "REG",
            "Regensburg",
            "Regensburg",
            49.0134,
            12.1016,
            "941",
            (
                _centre("Regensburg", 49.0134, 12.1016, (93047, 93059), 2.5),
                Anchor("Neutraubling", 48.9877, 12.1936, (93073, 93073)),
                Anchor("Regenstauf", 49.1237, 12.1290, (93128, 93128)),
                Anchor("Lappersdorf", 49.0467, 12.0916, (93138, 93138)),
                Anchor("Pentling", 48.9857, 12.0570, (93080, 93080)),
            ),
        ),
    ),
)

EAST = RegionSpec(
    "EAST",
    "East",
    (
        City(
            "BER",
            "Berlin",
            "Berlin",
            52.5200,
            13.4050,
            "30",
            (
                _centre("Berlin", 52.5200, 13.4050, (10115, 10999), 3.5),
                Anchor("Berlin", 52.5350, 13.1997, (13581, 13599), 2.5),  # Spandau
                Anchor("Berlin", 52.4451, 13.5746, (12555, 12589), 2.5),  # Köpenick
                Anchor("Berlin", 52.5693, 13.4010, (13187, 13189), 2.5),  # Pankow
                Anchor("Berlin", 52.4811, 13.4353, (12043, 12059), 2.0),  # Neukölln
                Anchor("Potsdam", 52.3906, 13.0645, (14467, 14482)),
                Anchor("Oranienburg", 52.7545, 13.2369, (16515, 16515)),
                Anchor("Bernau bei Berlin", 52.6795, 13.5872, (16321, 16321)),
                Anchor("Königs Wusterhausen", 52.2961, 13.6266, (15711, 15711)),
                Anchor("Falkensee", 52.5600, 13.0925, (14612, 14612)),
            ),
            cell_radius_km=40.0,
        ),
        City(
            "LEJ",
            "Leipzig",
            "Leipzig",
            51.3397,
            12.3731,
            "341",
            (
                _centre("Leipzig", 51.3397, 12.3731, (4103, 4357), 3.5),
                Anchor("Markkleeberg", 51.2775, 12.3686, (4416, 4416)),
                Anchor("Schkeuditz", 51.3964, 12.2219, (4435, 4435)),
                Anchor("Taucha", 51.3795, 12.4937, (4425, 4425)),
                Anchor("Markranstädt", 51.3017, 12.2206, (4420, 4420)),
                Anchor("Delitzsch", 51.5255, 12.3424, (4509, 4509)),
            ),
        ),
        City(
            "DRS",
            "Dresden",
            "Dresden",
            51.0504,
            13.7373,
            "351",
            (
                _centre("Dresden", 51.0504, 13.7373, (1067, 1328), 3.5),
                Anchor("Radebeul", 51.1066, 13.6608, (1445, 1445)),
                Anchor("Freital", 51.0012, 13.6486, (1705, 1705)),
                Anchor("Pirna", 50.9622, 13.9403, (1796, 1796)),
                Anchor("Heidenau", 50.9833, 13.8667, (1809, 1809)),
                Anchor("Meißen", 51.1636, 13.4775, (1662, 1662)),
                Anchor("Radeberg", 51.1117, 13.9112, (1454, 1454)),
            ),
        ),
        City(
            "MAG",
            "Magdeburg",
            "Magdeburg",
            52.1205,
            11.6276,
            "391",
            (
                _centre("Magdeburg", 52.1205, 11.6276, (39104, 39130), 3.0),
                Anchor("Schönebeck", 52.0166, 11.7311, (39218, 39218)),
                Anchor("Burg", 52.2725, 11.8550, (39288, 39288)),
                Anchor("Wolmirstedt", 52.2486, 11.6289, (39326, 39326)),
                Anchor("Barleben", 52.2000, 11.6333, (39179, 39179)),
                Anchor("Haldensleben", 52.2889, 11.4086, (39340, 39340)),
            ),
        ),
        City(
            "ERF",
            "Erfurt",
            "Erfurt",
            50.9848,
            11.0299,
            "361",
            (
                _centre("Erfurt", 50.9848, 11.0299, (99084, 99099), 3.0),
                Anchor("Arnstadt", 50.8343, 10.9464, (99310, 99310)),
                Anchor("Gotha", 50.9489, 10.7018, (99867, 99867)),
                Anchor("Weimar", 50.9795, 11.3235, (99423, 99427)),
                Anchor("Sömmerda", 51.1595, 11.1170, (99610, 99610)),
            ),
        ),
    ),
)

REGIONS: tuple[RegionSpec, ...] = (NORTH, WEST, SOUTH, EAST)
