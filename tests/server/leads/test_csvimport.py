"""CSV lead files: bad rows reported by line and field, good rows kept."""

from __future__ import annotations

from server.leads.csvimport import parse_csv


def test_good_rows_are_kept_and_bad_ones_reported_by_line() -> None:
    rows, errors = parse_csv(
        "company,lat,lon,country\n"
        "Alpha,53.5,9.9,DE\n"
        "Beta,95,9.9,DE\n"
        "Gamma,,,Germany\n"
        "Delta,53.5\n"
        "Epsilon,,,AT\n"
    )
    assert [(r.line, r.lead.company) for r in rows] == [(2, "Alpha"), (6, "Epsilon")]
    assert [(e.line, e.field) for e in errors] == [(3, "lat"), (4, "country"), (5, None)]


def test_line_numbers_follow_the_file_through_quoted_newlines_and_blank_lines() -> None:
    rows, errors = parse_csv(
        'company,notes\n"Multi",plain\n\nOne,"first\nsecond"\n\nTwo,x\n,missing\n'
    )
    assert [(r.line, r.lead.company) for r in rows] == [(2, "Multi"), (4, "One"), (7, "Two")]
    assert [(e.line, e.field) for e in errors] == [(8, "company")]


def test_an_unknown_column_is_a_header_error() -> None:
    rows, errors = parse_csv("company,colour\nAlpha,red\n")
    assert rows == [] and [(e.line, e.field) for e in errors] == [(1, "colour")]


def test_a_header_without_company_or_an_empty_file_is_refused() -> None:
    assert [e.line for e in parse_csv("city\nBerlin\n")[1]] == [1]
    assert [e.line for e in parse_csv("")[1]] == [1]


def test_half_a_coordinate_pair_is_an_error() -> None:
    rows, errors = parse_csv("company,lat,lon\nA,53.5,\n")
    assert rows == [] and [(e.line, e.field) for e in errors] == [(2, "lon")]
