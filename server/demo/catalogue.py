"""The demo product catalogue: a tools-and-supplies wholesaler with five product lines.

Each category lists five items with a base list price in euros; each item comes in two variants,
so the catalogue holds 5 lines × 3 categories × 5 items × 2 variants = 150 products.
"""

from __future__ import annotations

__all__ = ["LINES", "NAMES", "VARIANTS"]

# product line -> category -> [(item, unit, base price in EUR)]
LINES: dict[str, dict[str, list[tuple[str, str, float]]]] = {
    "power_tools": {
        "Drills": [
            ("Cordless Drill Driver 18V", "each", 189.0),
            ("Hammer Drill SDS-plus", "each", 249.0),
            ("Impact Driver 18V", "each", 169.0),
            ("Magnetic Core Drill", "each", 1290.0),
            ("Right-Angle Drill", "each", 219.0),
        ],
        "Saws": [
            ("Circular Saw 190 mm", "each", 229.0),
            ("Jigsaw Pendulum", "each", 159.0),
            ("Reciprocating Saw", "each", 199.0),
            ("Mitre Saw 254 mm", "each", 549.0),
            ("Plunge Saw with Rail", "each", 479.0),
        ],
        "Grinders": [
            ("Angle Grinder 125 mm", "each", 119.0),
            ("Angle Grinder 230 mm", "each", 189.0),
            ("Die Grinder", "each", 149.0),
            ("Bench Grinder", "each", 209.0),
            ("Random Orbit Sander", "each", 139.0),
        ],
    },
    "fasteners": {
        "Screws": [
            ("Wood Screws 4×40 (500)", "box", 14.9),
            ("Drywall Screws 3.5×35 (1000)", "box", 12.5),
            ("Self-Drilling Screws 4.8×25 (250)", "box", 19.9),
            ("Deck Screws A2 5×60 (200)", "box", 27.5),
            ("Machine Screws M8×30 (100)", "box", 16.9),
        ],
        "Anchors": [
            ("Nylon Wall Plugs 8 mm (100)", "box", 6.9),
            ("Chemical Anchor Cartridge 300 ml", "each", 18.5),
            ("Through Bolts M10×90 (50)", "box", 34.0),
            ("Cavity Anchors M5 (50)", "box", 21.0),
            ("Concrete Screws 7.5×100 (100)", "box", 39.0),
        ],
        "Bolts": [
            ("Hex Bolts M12×60 8.8 (50)", "box", 24.9),
            ("Carriage Bolts M10×80 (50)", "box", 22.0),
            ("Threaded Rod M10 1 m (10)", "pack", 18.0),
            ("Hex Nuts M12 (200)", "box", 11.5),
            ("Washers M10 DIN 125 (500)", "box", 9.9),
        ],
    },
    "safety": {
        "Gloves": [
            ("Nitrile Coated Gloves (12 pairs)", "pack", 19.9),
            ("Cut-Resistant Gloves Level C", "pair", 8.9),
            ("Welding Gauntlets", "pair", 14.5),
            ("Disposable Nitrile Gloves (100)", "box", 11.9),
            ("Winter Work Gloves", "pair", 12.9),
        ],
        "Eyewear": [
            ("Safety Glasses Clear", "each", 6.5),
            ("Safety Goggles Anti-Fog", "each", 11.9),
            ("Face Shield with Visor", "each", 24.0),
            ("Welding Helmet Auto-Darkening", "each", 139.0),
            ("Over-Spectacles", "each", 9.5),
        ],
        "Head and Hearing": [
            ("Safety Helmet EN 397", "each", 17.9),
            ("Earmuffs SNR 30", "each", 22.0),
            ("Foam Earplugs (200 pairs)", "box", 29.0),
            ("Bump Cap", "each", 15.5),
            ("Helmet with Visor and Muffs", "each", 64.0),
        ],
    },
    "workshop": {
        "Storage": [
            ("Tool Cabinet 7 Drawers", "each", 689.0),
            ("Stacking Bins Size 3 (24)", "pack", 49.0),
            ("Heavy-Duty Shelf 2000 mm", "each", 229.0),
            ("Systainer Case", "each", 54.0),
            ("Wall Tool Board", "each", 119.0),
        ],
        "Workbenches": [
            ("Workbench 1500 mm Beech", "each", 449.0),
            ("Mobile Workbench", "each", 329.0),
            ("Bench Vice 125 mm", "each", 139.0),
            ("Assembly Trestle (pair)", "pair", 89.0),
            ("Packing Table", "each", 389.0),
        ],
        "Lighting": [
            ("LED Work Light 50 W", "each", 79.0),
            ("LED Tripod Floodlight", "each", 159.0),
            ("Inspection Lamp Rechargeable", "each", 39.0),
            ("Head Torch 500 lm", "each", 34.0),
            ("High-Bay LED 150 W", "each", 189.0),
        ],
    },
    "consumables": {
        "Abrasives": [
            ("Cutting Discs 125 mm (25)", "box", 29.0),
            ("Flap Discs K80 (10)", "box", 34.0),
            ("Sanding Sheets Assorted (50)", "pack", 19.5),
            ("Diamond Blade 230 mm", "each", 59.0),
            ("Wire Cup Brush", "each", 12.9),
        ],
        "Adhesives": [
            ("Construction Adhesive 290 ml", "each", 7.9),
            ("Silicone Sealant Clear 310 ml", "each", 6.5),
            ("PU Foam 750 ml", "each", 9.9),
            ("Threadlocker Medium 50 ml", "each", 14.9),
            ("Two-Component Epoxy", "each", 12.5),
        ],
        "Lubricants": [
            ("Multi-Purpose Spray 400 ml", "each", 5.9),
            ("Cutting Oil 5 l", "each", 39.0),
            ("Lithium Grease Cartridge", "each", 6.9),
            ("Chain Lube 500 ml", "each", 11.5),
            ("Silicone Spray 400 ml", "each", 7.5),
        ],
    },
}

NAMES: dict[str, str] = {
    "power_tools": "Power Tools",
    "fasteners": "Fasteners",
    "safety": "Safety",
    "workshop": "Workshop",
    "consumables": "Consumables",
}

# (name suffix, SKU suffix, price factor)
VARIANTS: tuple[tuple[str, str, float], ...] = (("", "S", 1.0), (" Pro", "P", 1.35))
