# plugins/notes/logic.py: the plugin contract's minimal template, unchanged but for its name.
import logging
from datetime import datetime
from bson import ObjectId
from core.config.database import db

logger = logging.getLogger("mozaiks_plugins.notes")
COLLECTION = "notes_items"

async def execute(data: dict) -> dict:
    action = data.get("action", "")
    user_id = data["user_id"]
    
    if action == "list":
        items = await db[COLLECTION].find({"user_id": user_id}).to_list(100)
        for i in items: i["_id"] = str(i["_id"])
        return {"items": items, "count": len(items)}
    
    elif action == "create":
        title = data.get("title", "").strip()
        if not title: return {"error": "title required"}
        result = await db[COLLECTION].insert_one({
            "user_id": user_id,
            "title": title,
            "created_at": datetime.utcnow().isoformat()
        })
        return {"success": True, "id": str(result.inserted_id)}
    
    elif action == "get":
        item_id = data.get("item_id")
        if not item_id: return {"error": "item_id required"}
        item = await db[COLLECTION].find_one({"_id": ObjectId(item_id), "user_id": user_id})
        if not item: return {"error": "not found"}
        item["_id"] = str(item["_id"])
        return {"item": item}
    
    elif action == "delete":
        item_id = data.get("item_id")
        await db[COLLECTION].delete_one({"_id": ObjectId(item_id), "user_id": user_id})
        return {"success": True}
    
    return {"error": f"Unknown action: {action}"}
