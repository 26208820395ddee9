"""Reference data: the package catalog, regions, countries, languages, zones and numbers.

Data, not code paths. Each module is imported on its own (``from partnerhub.catalog
import packages``) so that importing one table does not load the others' libraries:

* :mod:`~partnerhub.catalog.packages`: the wholesale package catalog (CONTRACT section 3).
* :mod:`~partnerhub.catalog.regions`: data-residency regions and the country → region policy.
* :mod:`~partnerhub.catalog.geo`: countries and subdivisions (``pycountry``), address rules.
* :mod:`~partnerhub.catalog.languages`: e-mail languages, language-code normalization.
* :mod:`~partnerhub.catalog.timezones`: IANA zones (``zoneinfo`` + ``tzdata``) per country.
* :mod:`~partnerhub.catalog.phones`: E.164 parsing and validation (``phonenumbers``).
"""
