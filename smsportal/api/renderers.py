from rest_framework.renderers import JSONRenderer

from .envelope import SUCCESS_MESSAGES, success_body


class EnvelopeJSONRenderer(JSONRenderer):
    """Wraps what a view returns in the envelope; error responses arrive already wrapped."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if response is not None and not getattr(response, "enveloped", False):
            request = renderer_context.get("request")
            method = request.method if request is not None else "GET"
            message = getattr(response, "response_msg", None) or SUCCESS_MESSAGES.get(method, "OK")
            data = success_body(status=response.status_code, data=data, message=message)
        return super().render(data, accepted_media_type, renderer_context)
