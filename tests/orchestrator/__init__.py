"""Tests of the host side: fleet file, enrolment, CLI."""
