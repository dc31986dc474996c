"""Model Registry's version aliases at the GAPIC client (``ModelServiceClient``), for tests of
code that moves them: ``GetModel`` by ``<model>@<version or alias>`` and
``MergeVersionAliases`` keep one alias table, as the service documents them
(https://cloud.google.com/vertex-ai/docs/reference/rest/v1/projects.locations.models/mergeVersionAliases)."""

from __future__ import annotations

from typing import Any


class LookupRetry:
    """Equal to the ``Retry`` a registry read must carry (api-core's ``Retry`` has no equality):
    ``GetModel`` and ``ListModels`` have none by default, so one ``503`` failed the read. A
    ``503``, ``500`` or ``429`` is tried again, a refusal or an absence is not, for a minute at
    least (fraud_mlops/retries.py, ``lookup_retry``)."""

    def __eq__(self, other: object) -> bool:
        from google.api_core import exceptions
        from google.api_core.retry import Retry

        return (
            isinstance(other, Retry)
            and all(
                other._predicate(exc("x"))
                for exc in (
                    exceptions.ServiceUnavailable,
                    exceptions.InternalServerError,
                    exceptions.TooManyRequests,
                )
            )
            and not any(
                other._predicate(exc("x"))
                for exc in (exceptions.NotFound, exceptions.PermissionDenied, exceptions.InvalidArgument)
            )
            and other._timeout is not None
            and other._timeout >= 60
        )

    def __repr__(self) -> str:
        return "LookupRetry()"


def answer_aliases(client: Any, parent: str, aliases: dict[str, str], artifact_uri: str) -> dict[str, str]:
    """Make the mocked ``client`` answer ``get_model`` and ``merge_version_aliases`` from
    ``aliases`` (alias → version, changed in place by the merges); ``artifact_uri`` is formatted
    with the version. Returns the table."""
    from google.api_core import exceptions
    from google.cloud import aiplatform_v1 as v1

    def model(name: str) -> Any:
        ref = name.rsplit("@", 1)[1]
        version = aliases.get(ref, ref if ref.isdigit() else None)
        if version is None:
            raise exceptions.NotFound(name)
        held = [alias for alias, holder in aliases.items() if holder == version]
        return v1.Model(
            name=parent, version_id=version, artifact_uri=artifact_uri.format(version), version_aliases=held
        )

    def get_model(name: str, retry: Any = None) -> Any:
        assert retry == LookupRetry(), f"GetModel {name} without the lookup retry"
        return model(name)

    def merge_version_aliases(request: Any, retry: Any = None) -> Any:
        """``-alias`` removes the alias from the version; an alias another version holds moves
        ("if you apply an existing alias used by another model version, the alias is removed
        from that version": https://cloud.google.com/vertex-ai/docs/model-registry/model-alias).
        An addition carries the lookup retry (a repeat changes nothing); a removal none (a
        repeat would name an alias the version no longer holds)."""
        adding = any(not alias.startswith("-") for alias in request.version_aliases)
        assert retry == LookupRetry() if adding else retry is None, (
            f"{request.version_aliases}: retry {retry}"
        )
        version = request.name.rsplit("@", 1)[1]
        for alias in request.version_aliases:
            if alias.startswith("-"):
                if aliases.get(alias[1:]) == version:
                    del aliases[alias[1:]]
            else:
                aliases[alias] = version
        return model(request.name)

    client.get_model.side_effect = get_model
    client.merge_version_aliases.side_effect = merge_version_aliases
    return aliases
