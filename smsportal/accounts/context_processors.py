from .permissions import Capabilities
from .selectors import workspaces_for_user
from .workspace import request_access


def workspace(request):
    """The current workspace and the switcher's choices, for the base layout."""
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    access = request_access(request)
    return {
        "access": access,
        "capabilities": Capabilities(access),
        "workspaces": lambda: workspaces_for_user(user=request.user),
    }
